//! Text that comes from a portal, bounded before plantsync keeps or quotes it.
//!
//! A portal's reply is untrusted input: a field may hold a megabyte, a NUL or an escape
//! sequence. Two rules live here. Errors quote at most a short excerpt of what they met,
//! with control characters escaped ([`excerpt`], [`json_error`]), so a run's stored error
//! stays small and printable. Stored text fields are cut to a length that fits their
//! meaning ([`TextBounds`]), on a character boundary, and the run says which were cut;
//! an identity (a plant id, an alert key) longer than its bound keeps its head and gains a
//! hash of the whole, so two long identities never become one.

use super::{VendorAlert, VendorPlant};
use sha2::{Digest, Sha256};

/// The most characters one quoted part of an error keeps (a row's reason, a portal's word).
pub const ERROR_PART_CHARS: usize = 300;
/// The most characters a whole error keeps (a vendor's result in a run).
pub const ERROR_CHARS: usize = 2000;

/// Whether `c` must not reach a terminal or a log line raw: control characters, and the
/// invisible format characters that reorder or hide text (bidi embeddings and overrides,
/// isolates, line and paragraph separators, zero-width characters, the BOM).
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// `text` as it may be quoted in an error: control and invisible format characters escaped
/// as `\u{..}` (a NUL, an escape sequence or a bidi override never reaches a terminal or a
/// log line raw), and at most `max` characters once escaped: the head and the tail are
/// kept with `…` between, so both the start of a decoder's message and its `expected …`
/// end survive a megabyte quoted in the middle. Reads the text once, without a copy per
/// character.
pub fn excerpt(text: &str, max: usize) -> String {
    let piece = |c: char, out: &mut String| {
        if unsafe_char(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    };
    let width = |c: char| if unsafe_char(c) { c.escape_unicode().count() } else { 1 };
    let total: usize = text.chars().map(width).sum();
    let mut out = String::new();
    if total <= max {
        text.chars().for_each(|c| piece(c, &mut out));
        return out;
    }
    let tail_budget = max / 3;
    let head_budget = max.saturating_sub(tail_budget + 1);
    let mut used = 0;
    for c in text.chars() {
        if used + width(c) > head_budget {
            break;
        }
        used += width(c);
        piece(c, &mut out);
    }
    out.push('…');
    let mut tail: Vec<char> = Vec::new();
    let mut tail_used = 0;
    for c in text.chars().rev() {
        if tail_used + width(c) > tail_budget {
            break;
        }
        tail_used += width(c);
        tail.push(c);
    }
    tail.iter().rev().for_each(|&c| piece(c, &mut out));
    out
}

/// A JSON decoder's error in words, bounded: serde's message (which quotes the value it
/// met) as an [`excerpt`].
pub fn json_error(error: &serde_json::Error) -> String {
    excerpt(&error.to_string(), ERROR_PART_CHARS)
}

/// The most characters each stored text field keeps, by its meaning.
#[derive(Debug, Clone, Copy)]
pub struct TextBounds;

impl TextBounds {
    /// Plant names.
    pub const NAME: usize = 200;
    /// Addresses.
    pub const ADDRESS: usize = 500;
    /// A portal's status word, a zone name.
    pub const WORD: usize = 64;
    /// Alert titles.
    pub const TITLE: usize = 300;
    /// Alert descriptions.
    pub const DESCRIPTION: usize = 4000;
    /// Alert codes, device serial numbers.
    pub const CODE: usize = 128;
    /// A vendor's plant id (an identity: hashed past its bound).
    pub const PLANT_ID: usize = 128;
    /// An alert occurrence's key (an identity: hashed past its bound).
    pub const ALERT_KEY: usize = 512;
    /// The raw record kept beside a row, in bytes: a bigger one is replaced by a note.
    pub const RAW_BYTES: usize = 64 * 1024;
}

/// Cuts `text` to at most `max` characters on a character boundary; whether it cut.
fn cut(text: &mut String, max: usize) -> bool {
    match text.char_indices().nth(max) {
        Some((end, _)) => {
            text.truncate(end);
            true
        }
        None => false,
    }
}

/// Cuts an optional field; its name when it was cut.
fn cut_field(field: &mut Option<String>, max: usize, name: &'static str) -> Option<&'static str> {
    field.as_mut().is_some_and(|text| cut(text, max)).then_some(name)
}

/// An identity longer than `max` characters: its head and `#` with 16 hex digits of the
/// whole's SHA-256, `max` characters in all, so distinct long identities stay distinct and
/// the same one always maps to the same text.
fn cut_identity(text: &mut String, max: usize) -> bool {
    if text.chars().nth(max).is_none() {
        return false;
    }
    let digest: String =
        Sha256::digest(text.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect();
    cut(text, max.saturating_sub(digest.len() + 1));
    text.push('#');
    text.push_str(&digest);
    true
}

/// A plant id as stored: cut past [`TextBounds::PLANT_ID`] the one way every record
/// that names the plant (its row, its alerts, an unreadable row's id) cuts it.
pub fn bound_plant_id(id: &mut String) -> bool {
    cut_identity(id, TextBounds::PLANT_ID)
}

/// An alert key as stored: cut past [`TextBounds::ALERT_KEY`] the one way its row and a
/// listing's open keys cut it, so an open alert with a long key is never taken for gone.
pub fn bound_alert_key(key: &mut String) -> bool {
    cut_identity(key, TextBounds::ALERT_KEY)
}

/// Field names counted, in the order first met: `name (2), address (1)`; `None` for none.
pub fn count_names(names: &[&'static str]) -> Option<String> {
    if names.is_empty() {
        return None;
    }
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for field in names {
        match counts.iter_mut().find(|(name, _)| name == field) {
            Some((_, n)) => *n += 1,
            None => counts.push((field, 1)),
        }
    }
    let list: Vec<String> = counts.iter().map(|(name, n)| format!("{name} ({n})")).collect();
    Some(list.join(", "))
}

/// The run's one line about fields cut to their bound (`name (2), address (1)`), or none.
pub fn cut_fields_note(cut: &[&'static str]) -> Option<String> {
    Some(format!("text longer than plantsync keeps was cut: {}", count_names(cut)?))
}

/// A raw record over [`TextBounds::RAW_BYTES`] replaced by a JSON note of its size.
fn bound_raw(raw: &mut Option<String>) -> Option<&'static str> {
    let size = raw.as_ref().map(String::len).filter(|&n| n > TextBounds::RAW_BYTES)?;
    *raw = Some(format!(
        "{{\"plantsync\":\"the record of {size} bytes was not kept (more than {})\"}}",
        TextBounds::RAW_BYTES
    ));
    Some("raw record")
}

impl VendorPlant {
    /// Cuts every text field to its bound ([`TextBounds`]); the names of the fields cut.
    pub fn bound_texts(&mut self) -> Vec<&'static str> {
        let mut cut = Vec::new();
        if bound_plant_id(&mut self.vendor_plant_id) {
            cut.push("plant id");
        }
        cut.extend(cut_field(&mut self.name, TextBounds::NAME, "name"));
        cut.extend(cut_field(&mut self.address, TextBounds::ADDRESS, "address"));
        cut.extend(cut_field(&mut self.timezone, TextBounds::WORD, "timezone"));
        cut.extend(cut_field(&mut self.network_status, TextBounds::WORD, "network status"));
        cut.extend(bound_raw(&mut self.raw_json));
        cut
    }
}

impl VendorAlert {
    /// Cuts every text field to its bound ([`TextBounds`]); the names of the fields cut.
    pub fn bound_texts(&mut self) -> Vec<&'static str> {
        let mut cut = Vec::new();
        if bound_alert_key(&mut self.vendor_alert_key) {
            cut.push("alert key");
        }
        if let Some(plant) = self.vendor_plant_id.as_mut()
            && bound_plant_id(plant)
        {
            cut.push("plant id");
        }
        if self::cut(&mut self.title, TextBounds::TITLE) {
            cut.push("title");
        }
        cut.extend(cut_field(&mut self.code, TextBounds::CODE, "code"));
        cut.extend(cut_field(&mut self.device_sn, TextBounds::CODE, "device"));
        cut.extend(cut_field(&mut self.description, TextBounds::DESCRIPTION, "description"));
        cut.extend(bound_raw(&mut self.raw_json));
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_keeps_head_and_tail_and_escapes_controls() {
        assert_eq!(excerpt("short", 10), "short");
        assert_eq!(excerpt("a\0b\u{1b}[31m", 40), "a\\u{0}b\\u{1b}[31m");
        let long = format!("invalid type: string \"{}\", expected f64", "A".repeat(1_000_000));
        let cut = excerpt(&long, 300);
        assert_eq!(cut.chars().count(), 300);
        assert!(cut.starts_with("invalid type: string \"AAA"), "{cut}");
        assert!(cut.ends_with("\", expected f64"), "{cut}");
        // Multibyte characters are never split.
        let wide = "é".repeat(1000);
        assert_eq!(excerpt(&wide, 11).chars().count(), 11);
        // The bound holds after escaping, however many control characters there are.
        for hostile in ["\u{1b}".repeat(5000), "\u{9f}".repeat(300), "\u{202e}x".repeat(900)] {
            assert!(excerpt(&hostile, 2000).chars().count() <= 2000);
            assert!(excerpt(&hostile, 300).chars().count() <= 300);
            assert!(!excerpt(&hostile, 300).chars().any(unsafe_char));
        }
        assert_eq!(excerpt("a\u{202e}b", 40), "a\\u{202e}b", "a bidi override is escaped");
    }

    #[test]
    fn a_decoder_error_quoting_a_megabyte_is_bounded() {
        let body = format!("{{\"a\": \"{}\u{0}\"}}", "x".repeat(1 << 20)).replace('\0', "\\u0000");
        let error =
            serde_json::from_str::<std::collections::HashMap<String, f64>>(&body).unwrap_err();
        let text = json_error(&error);
        assert!(text.chars().count() <= ERROR_PART_CHARS);
        assert!(text.contains("expected f64"), "{text}");
        assert!(!text.contains('\0'));
    }

    #[test]
    fn plant_fields_are_cut_to_their_bounds_and_ids_stay_distinct() {
        let long_id = |tail: char| format!("{}{tail}", "9".repeat(300));
        let mut plant = VendorPlant {
            vendor_plant_id: long_id('a'),
            name: Some("ñ".repeat(1_000)),
            address: Some("x".repeat(1 << 20)),
            network_status: Some("NORMAL".into()),
            raw_json: Some(format!("\"{}\"", "r".repeat(100_000))),
            ..VendorPlant::default()
        };
        let cut = plant.bound_texts();
        assert_eq!(cut, ["plant id", "name", "address", "raw record"]);
        assert_eq!(plant.vendor_plant_id.chars().count(), TextBounds::PLANT_ID);
        assert_eq!(plant.name.as_ref().unwrap().chars().count(), TextBounds::NAME);
        assert_eq!(plant.address.as_ref().unwrap().len(), TextBounds::ADDRESS);
        assert_eq!(plant.network_status.as_deref(), Some("NORMAL"), "within its bound");
        let raw: serde_json::Value =
            serde_json::from_str(plant.raw_json.as_ref().unwrap()).unwrap();
        assert!(raw["plantsync"].as_str().unwrap().contains("100002 bytes"));
        let mut other = VendorPlant { vendor_plant_id: long_id('b'), ..VendorPlant::default() };
        other.bound_texts();
        assert_ne!(plant.vendor_plant_id, other.vendor_plant_id, "two ids stay two");
        let mut again = VendorPlant { vendor_plant_id: long_id('a'), ..VendorPlant::default() };
        again.bound_texts();
        assert_eq!(plant.vendor_plant_id, again.vendor_plant_id, "the same id maps the same");
        let mut fine = VendorPlant { vendor_plant_id: "42".into(), ..VendorPlant::default() };
        assert!(fine.bound_texts().is_empty());
    }

    #[test]
    fn alert_fields_are_cut_to_their_bounds() {
        let mut alert = VendorAlert {
            vendor_alert_key: "k".repeat(600),
            vendor_plant_id: Some("1".into()),
            device_sn: None,
            severity: crate::domain::Severity::Low,
            status: crate::domain::AlertStatus::Active,
            title: "t".repeat(400),
            code: Some("c".repeat(200)),
            description: Some("d".repeat(5000)),
            started_at: None,
            ended_at: None,
            raw_json: None,
        };
        assert_eq!(alert.bound_texts(), ["alert key", "title", "code", "description"]);
        assert_eq!(alert.vendor_alert_key.chars().count(), TextBounds::ALERT_KEY);
        assert_eq!(alert.title.len(), TextBounds::TITLE);
        assert_eq!(alert.description.as_ref().unwrap().len(), TextBounds::DESCRIPTION);
        let mut open_key = "k".repeat(600);
        assert!(bound_alert_key(&mut open_key));
        assert_eq!(open_key, alert.vendor_alert_key, "a listing's open key cuts the same way");
        assert_eq!(
            cut_fields_note(&["title", "code", "title"]).as_deref(),
            Some("text longer than plantsync keeps was cut: title (2), code (1)")
        );
        assert_eq!(cut_fields_note(&[]), None);
    }
}
