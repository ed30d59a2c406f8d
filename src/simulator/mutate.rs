//! The one mutation engine: a portal's JSON reply spoiled the ways a hostile or broken
//! proxy, a portal bug or a unit mix-up spoils it, deterministically from a seed.
//!
//! Both fuzz harnesses use it: the simulator's `Faults::mutate` switch (every JSON reply
//! of an account, end to end through the engine and the store) and the per-portal property
//! tests of the decoders. [`mutate`] applies one to three mutations chosen by the seed
//! among: a type change (number, string, bool, null, object, array into another), a
//! huge or tiny number (1e308, -1e308, 1.8e19, -0.0, 1e-308), a negated value, a string of
//! a megabyte, unicode edge cases (NUL, an escape sequence, a right-to-left override,
//! combining marks, emoji, a byte-order mark, and a lone surrogate escape `\ud800`, which
//! only text can carry), deep nesting, a truncated body, wrong lengths (an array cut or
//! doubled, a count made wrong), a time in milliseconds where seconds belong and the other
//! way round (and year 9999 or 1900 in a time text), an impossible zone (`GMT+99`,
//! `Mars/Olympus`), and a field removed.
//!
//! # What is never mutated into another valid value
//!
//! A harness checks that nothing is wrongly deactivated or resolved, and that check is
//! only well defined when the mutated reply does not say something a real portal could
//! say. So:
//!
//! * An identity (a plant id, a device serial, the fields an alert's occurrence key is
//!   built from, and an alert's end time, which is its resolution) is only ever changed
//!   into a boolean, an object or an array: kinds no decoder reads as an identity, so the
//!   row becomes unreadable. It is never removed, nulled, or made another number or text:
//!   a portal that consistently reports a different id, or an optional identity missing
//!   (which selects another key spelling: Sungrow's key falls back from `ps_key` to
//!   `device_sn`), is indistinguishable from a real change.
//! * At most one mutation per reply changes a length (an array cut or doubled, a count
//!   made wrong), so a cut list always contradicts its count. An array is cut only where
//!   its object carries a count ([`COUNT_KEYS`]): a shorter list with nothing to
//!   contradict it is what a real change looks like (an alert that ended leaves
//!   SolarEdge's open list). A count is only made larger, negative or unreadable, never a
//!   smaller plausible one, which a real shrinking list also gives.
//! * A verdict ([`VERDICT_KEYS`]: a login's state, an envelope's code) is never negated:
//!   Sungrow's `login_state` `"1"` negated is its documented `"-1"`, a real refusal.
//! * A truncated body keeps at least its first byte: an empty HTTP 200 is FusionSolar's
//!   real answer to a wrong login.
//! * Values that stand in for others are themselves implausible: numbers from
//!   [`HOSTILE_NUMBERS`] and texts that are no time, so a made-up end time never lands in
//!   the plausible window.

use super::data::{Rng, mix};
use serde_json::{Map, Number, Value};

/// Keys whose values are identities (see the module): ids, serials, the fields alert keys
/// are built from, and alert end times. Spelled as the five portals spell them.
pub const IDENTITY_KEYS: &[&str] = &[
    // Solarman
    "id",
    "stationId",
    "deviceSn",
    "deviceId",
    "alertId",
    "code",
    "alertTime",
    // Sungrow
    "ps_id",
    "ps_key",
    "device_sn",
    "fault_code",
    "create_time",
    "over_time",
    // SolarEdge
    "siteId",
    "type",
    "firstTrigger",
    // FusionSolar
    "plantCode",
    "stationCode",
    "esnCode",
    "alarmId",
    "raiseTime",
    "recoveryTime",
    // Growatt
    "plant_id",
];

/// Keys whose values are a portal's verdict (a login's state, an envelope's code): never
/// negated, since `"1"` negated is Sungrow's documented `"-1"` "no such account", a real
/// refusal. They may still become another kind, a huge number or a spoiled text, which no
/// portal sends as a verdict.
pub const VERDICT_KEYS: &[&str] =
    &["login_state", "result_code", "success", "failCode", "error_code", "code"];

/// Keys that count the rows of a list beside it.
pub const COUNT_KEYS: &[&str] = &["total", "count", "rowCount", "row_count", "pageCount"];

/// Numbers that stand in for others: none is a plausible reading, id, code or time.
pub const HOSTILE_NUMBERS: [f64; 5] = [1e308, -1e308, 1.8e19, -0.0, 1e-308];

/// One megabyte, the length of a huge string.
const HUGE: usize = 1 << 20;
/// How deep a deeply nested value goes: past serde_json's recursion limit of 128, and
/// applied once per reply, so the simulator's own serializing and dropping of the value
/// (recursive, on a 2 MB worker stack) stays far from a stack overflow.
const DEPTH: usize = 300;
/// Salt of the mutation stream.
const SALT: u64 = 0x0000_4D55_5441_5445;
/// Marks where a lone surrogate escape goes; replaced in the serialized text, since a
/// `Value` cannot hold one.
const SURROGATE_MARK: &str = "\u{E000}lone-surrogate\u{E000}";

/// Unicode edge cases put into a string.
const UNICODE: [&str; 7] = [
    "\u{0}",
    "\u{1b}[2J\u{1b}[31m",
    "\u{202e}evil",
    "e\u{301}\u{302}\u{303}\u{304}",
    "\u{1f600}\u{1f468}\u{200d}\u{1f469}",
    "\u{feff}",
    SURROGATE_MARK,
];

/// Texts that stand in for a time or a zone (none is a plausible one).
const BAD_TIMES: [&str; 4] =
    ["9999-12-31 23:59:59", "1900-01-01T00:00:00Z", "99991231235959", "19000101000000"];
/// Zones no place has.
const BAD_ZONES: [&str; 3] = ["GMT+99", "Mars/Olympus", "UTC-25:00"];

/// A reply after [`mutate`]: the bytes to send, and what was done (for a failure report).
#[derive(Debug, Clone)]
pub struct Mutated {
    /// The body.
    pub bytes: Vec<u8>,
    /// Each mutation, in words (`type change at $.data.list[0].capacity`).
    pub applied: Vec<String>,
}

/// The kinds of mutation, in the order the seed picks from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    TypeChange,
    HugeNumber,
    Negate,
    HugeString,
    Unicode,
    DeepNesting,
    Truncate,
    ArrayLength,
    WrongCount,
    TimeUnits,
    Zone,
    Remove,
}

const KINDS: [Kind; 12] = [
    Kind::TypeChange,
    Kind::HugeNumber,
    Kind::Negate,
    Kind::HugeString,
    Kind::Unicode,
    Kind::DeepNesting,
    Kind::Truncate,
    Kind::ArrayLength,
    Kind::WrongCount,
    Kind::TimeUnits,
    Kind::Zone,
    Kind::Remove,
];

/// One step of a path into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every node of `value` (the root included) with its path.
fn paths(value: &Value) -> Vec<Vec<Step>> {
    fn walk(value: &Value, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        out.push(path.clone());
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    path.push(Step::Key(key.clone()));
                    walk(child, path, out);
                    path.pop();
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    path.push(Step::Index(index));
                    walk(child, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

/// The node at `path`, to read.
fn get<'a>(value: &'a Value, path: &[Step]) -> Option<&'a Value> {
    path.iter().try_fold(value, |node, step| match step {
        Step::Key(key) => node.get(key.as_str()),
        Step::Index(index) => node.get(*index),
    })
}

/// The node at `path`.
fn at<'a>(value: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    path.iter().try_fold(value, |node, step| match step {
        Step::Key(key) => node.get_mut(key.as_str()),
        Step::Index(index) => node.get_mut(*index),
    })
}

/// `$.a[0].b`.
fn show(path: &[Step]) -> String {
    let mut text = String::from("$");
    for step in path {
        match step {
            Step::Key(key) => {
                text.push('.');
                text.push_str(&crate::domain::text::excerpt(key, 40));
            }
            Step::Index(index) => text.push_str(&format!("[{index}]")),
        }
    }
    text
}

/// The key a node is held under (its own key, or for an array item the array's key).
fn key_of(path: &[Step]) -> Option<&str> {
    path.iter().rev().find_map(|step| match step {
        Step::Key(key) => Some(key.as_str()),
        Step::Index(_) => None,
    })
}

/// Whether the node at `path` is an identity (see the module).
fn is_identity(path: &[Step]) -> bool {
    key_of(path).is_some_and(|key| IDENTITY_KEYS.contains(&key))
}

/// The keys of an alert's end (readable impossible values go there too: see
/// [`Mutator::type_change`]).
const END_KEYS: [&str; 2] = ["over_time", "recoveryTime"];
/// Ends in epoch milliseconds no alert can have: the year 9999, and 1900.
const IMPOSSIBLE_END_MILLIS: [f64; 2] = [253_402_300_799_000.0, 1_000.0];

/// Whether the node at `path` is an alert's end.
fn is_end(path: &[Step]) -> bool {
    matches!(path.last(), Some(Step::Key(key)) if END_KEYS.contains(&key.as_str()))
}

/// Whether the node at `path` is a count (see [`COUNT_KEYS`]).
fn is_count(path: &[Step]) -> bool {
    matches!(path.last(), Some(Step::Key(key)) if COUNT_KEYS.contains(&key.as_str()))
}

/// A number as JSON (`-0.0` kept, which `Number::from_f64` does).
fn number(value: f64) -> Value {
    Number::from_f64(value).map_or(Value::Null, Value::Number)
}

/// The mutations of one reply, with the state they share.
struct Mutator {
    rng: Rng,
    /// A length already changed (see the module).
    length_changed: bool,
    /// A value already nested deeply (once per reply: see [`DEPTH`]).
    nested: bool,
    /// The body is cut after serialization at this share of its length (per mille).
    truncate_at: Option<u64>,
    applied: Vec<String>,
}

impl Mutator {
    /// A node chosen among those `fits` accepts, or `None`.
    fn pick(&mut self, value: &Value, fits: impl Fn(&[Step], &Value) -> bool) -> Option<Vec<Step>> {
        let mut candidates: Vec<Vec<Step>> = paths(value);
        candidates.retain(|path| get(value, path).is_some_and(|node| fits(path, node)));
        let n = candidates.len() as u64;
        (n > 0).then(|| candidates.swap_remove(self.rng.below(n) as usize))
    }

    /// Applies one mutation of `kind` if the document has a node it fits; whether it did.
    fn apply(&mut self, kind: Kind, doc: &mut Value) -> bool {
        let free = |path: &[Step], _: &Value| !is_identity(path) && !is_count(path);
        match kind {
            Kind::TypeChange => self.type_change(doc),
            Kind::HugeNumber => self.edit(
                doc,
                "huge number",
                |p, v| free(p, v) && v.is_number(),
                |m, v| {
                    *v = number(HOSTILE_NUMBERS[m.rng.below(5) as usize]);
                },
            ),
            Kind::Negate => self.edit(
                doc,
                "negated value",
                |p, v| {
                    free(p, v)
                        && !key_of(p).is_some_and(|k| VERDICT_KEYS.contains(&k))
                        && (v.is_number()
                            || v.as_str().is_some_and(|s| s.trim().parse::<f64>().is_ok()))
                },
                |_, v| {
                    *v = match v {
                        Value::String(s) => Value::String(format!("-{}", s.trim())),
                        _ => number(-v.as_f64().unwrap_or(0.0)),
                    }
                },
            ),
            Kind::HugeString => self.edit(
                doc,
                "megabyte string",
                |p, v| free(p, v) && !v.is_array() && !v.is_object(),
                |_, v| {
                    let head = v.as_str().unwrap_or("x").chars().next().unwrap_or('x');
                    *v = Value::String(head.to_string().repeat(HUGE));
                },
            ),
            Kind::Unicode => self.edit(
                doc,
                "unicode edge case",
                |p, v| free(p, v) && v.is_string(),
                |m, v| {
                    let edge = UNICODE[m.rng.below(UNICODE.len() as u64) as usize];
                    let text = v.as_str().unwrap_or_default();
                    *v = Value::String(if m.rng.below(2) == 0 {
                        format!("{edge}{text}")
                    } else {
                        format!("{text}{edge}")
                    });
                },
            ),
            Kind::DeepNesting if self.nested => false,
            Kind::DeepNesting => {
                self.nested = true;
                self.edit(
                    doc,
                    "deep nesting",
                    |p, _| !p.is_empty() && !is_count(p),
                    |_, v| {
                        let mut nested = Value::Array(Vec::new());
                        for _ in 0..DEPTH {
                            nested = Value::Array(vec![nested]);
                        }
                        *v = nested;
                    },
                )
            }
            Kind::Truncate => {
                let done = self.truncate_at.is_none();
                if done {
                    self.truncate_at = Some(self.rng.below(1000));
                    self.applied.push("body truncated".into());
                }
                done
            }
            Kind::ArrayLength => self.array_length(doc),
            Kind::WrongCount => self.wrong_count(doc),
            Kind::TimeUnits => self.edit(
                doc,
                "time units",
                |p, v| free(p, v) && time_like(v),
                |m, v| {
                    *v = match &*v {
                        Value::String(text) => Value::String(other_year(text, &mut m.rng)),
                        other => {
                            let t = other.as_f64().unwrap_or(0.0);
                            number(if t.abs() < 1e11 { t * 1000.0 } else { (t / 1000.0).floor() })
                        }
                    }
                },
            ),
            Kind::Zone => self.edit(
                doc,
                "impossible zone",
                |p, v| free(p, v) && zone_like(p, v),
                |m, v| {
                    *v = Value::String(
                        BAD_ZONES[m.rng.below(BAD_ZONES.len() as u64) as usize].into(),
                    );
                },
            ),
            Kind::Remove => self.remove(doc),
        }
    }

    /// Picks a node `fits` accepts and changes it with `change`; whether there was one.
    fn edit(
        &mut self,
        doc: &mut Value,
        what: &str,
        fits: impl Fn(&[Step], &Value) -> bool,
        change: impl FnOnce(&mut Self, &mut Value),
    ) -> bool {
        let Some(path) = self.pick(doc, fits) else { return false };
        let Some(node) = at(doc, &path) else { return false };
        change(self, node);
        self.applied.push(format!("{what} at {}", show(&path)));
        true
    }

    /// A node into another kind; identities only into a boolean, an object or an array.
    fn type_change(&mut self, doc: &mut Value) -> bool {
        // A count changed kind is a length change too: at most one per reply.
        let counts_free = !self.length_changed;
        let Some(path) = self.pick(doc, |p, _| !p.is_empty() && (counts_free || !is_count(p)))
        else {
            return false;
        };
        self.length_changed |= is_count(&path);
        let Some(node) = at(doc, &path) else { return false };
        if is_end(&path) && self.rng.below(2) == 0 {
            // An end in its own kind but impossible (the year 9999, before the epoch's
            // plausible window): readable, so the sync's plausibility gate is what meets it.
            *node = match node {
                Value::Number(_) => number(IMPOSSIBLE_END_MILLIS[self.rng.below(2) as usize]),
                _ => Value::String(BAD_TIMES[self.rng.below(2) as usize].into()),
            };
        } else if is_identity(&path) {
            *node = match self.rng.below(3) {
                0 => Value::Bool(self.rng.below(2) == 0),
                1 => Value::Object(Map::from_iter([("value".to_owned(), node.clone())])),
                _ => Value::Array(vec![node.clone()]),
            };
        } else {
            self.retype(node);
        }
        self.applied.push(format!("type change at {}", show(&path)));
        true
    }

    /// `value` as another kind (see [`Mutator::type_change`]).
    fn retype(&mut self, value: &mut Value) {
        let original = value.clone();
        let choices: [fn(&mut Rng, &Value) -> Value; 6] = [
            |rng, v| match v {
                Value::Number(n) => Value::String(n.to_string()),
                _ => Value::String(BAD_TIMES[rng.below(BAD_TIMES.len() as u64) as usize].into()),
            },
            |rng, _| number(HOSTILE_NUMBERS[rng.below(5) as usize]),
            |rng, _| Value::Bool(rng.below(2) == 0),
            |_, _| Value::Null,
            |_, v| {
                let mut map = Map::new();
                map.insert("value".into(), v.clone());
                Value::Object(map)
            },
            |_, v| Value::Array(vec![v.clone()]),
        ];
        for _ in 0..8 {
            let candidate = choices[self.rng.below(6) as usize](&mut self.rng, &original);
            if std::mem::discriminant(&candidate) != std::mem::discriminant(&original) {
                *value = candidate;
                return;
            }
        }
        *value = Value::Array(vec![original]);
    }

    /// Cuts or doubles an array (cut only beside a count); at most one length change.
    fn array_length(&mut self, doc: &mut Value) -> bool {
        if self.length_changed {
            return false;
        }
        let double = self.rng.below(2) == 0;
        let beside_count = |path: &[Step], doc: &Value| {
            let Some((Step::Key(_), parent)) = path.split_last() else { return false };
            get(doc, parent)
                .and_then(Value::as_object)
                .is_some_and(|map| COUNT_KEYS.iter().any(|k| map.contains_key(*k)))
        };
        let Some(path) = self.pick(doc, |path, v| {
            v.as_array().is_some_and(|a| !a.is_empty())
                && !is_identity(path)
                && (double || beside_count(path, doc))
        }) else {
            return false;
        };
        let Some(Value::Array(items)) = at(doc, &path) else { return false };
        if double {
            let copy = items.clone();
            items.extend(copy);
            self.applied.push(format!("array doubled at {}", show(&path)));
        } else {
            items.truncate(items.len() / 2);
            self.applied.push(format!("array cut at {}", show(&path)));
        }
        self.length_changed = true;
        true
    }

    /// Makes a count larger, negative or unreadable; at most one length change.
    fn wrong_count(&mut self, doc: &mut Value) -> bool {
        if self.length_changed {
            return false;
        }
        let Some(path) = self.pick(doc, |p, v| is_count(p) && !v.is_null()) else { return false };
        let choice = self.rng.below(4);
        let Some(node) = at(doc, &path) else { return false };
        let n = node.as_f64().or_else(|| node.as_str().and_then(|s| s.parse().ok())).unwrap_or(0.0);
        *node = match choice {
            0 => number(n + 1.0),
            1 => number(n * 2.0 + 7.0),
            2 => number(-n - 1.0),
            _ => Value::String("many".into()),
        };
        self.length_changed = true;
        self.applied.push(format!("wrong count at {}", show(&path)));
        true
    }

    /// Removes a field that is no identity and no count.
    fn remove(&mut self, doc: &mut Value) -> bool {
        let Some(path) = self.pick(doc, |p, _| {
            matches!(p.last(), Some(Step::Key(_))) && !is_identity(p) && !is_count(p)
        }) else {
            return false;
        };
        let Some((Step::Key(key), parent)) = path.split_last() else { return false };
        let Some(Value::Object(map)) = at(doc, parent) else { return false };
        map.remove(key);
        self.applied.push(format!("removed {}", show(&path)));
        true
    }
}

/// Whether a value looks like a time: unix seconds or milliseconds, or a date text.
fn time_like(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.as_f64().is_some_and(|t| (1e8..1e14).contains(&t.abs())),
        Value::String(s) => {
            let digits: String = s.chars().take(4).collect();
            s.len() >= 8
                && digits.len() == 4
                && digits.chars().all(|c| c.is_ascii_digit())
                && (digits.starts_with("19") || digits.starts_with("20"))
        }
        _ => false,
    }
}

/// `text` with its year made 9999 or 1900.
fn other_year(text: &str, rng: &mut Rng) -> String {
    let year = if rng.below(2) == 0 { "9999" } else { "1900" };
    format!("{year}{}", text.get(4..).unwrap_or_default())
}

/// Whether a node names a zone (its key says so, or it reads `GMT+8` / `Area/City`).
fn zone_like(path: &[Step], value: &Value) -> bool {
    let Value::String(text) = value else { return false };
    let key = key_of(path).unwrap_or_default().to_ascii_lowercase();
    key.contains("zone")
        || text.starts_with("GMT")
        || text.starts_with("UTC")
        || (text.contains('/') && text.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
}

/// `body` spoiled by one to three mutations chosen by `seed` (see the module). The same
/// seed and body always give the same bytes.
pub fn mutate(body: &Value, seed: u64) -> Mutated {
    let mut mutator = Mutator {
        rng: Rng::new(seed, SALT, 0, 0),
        length_changed: false,
        nested: false,
        truncate_at: None,
        applied: Vec::new(),
    };
    let mut doc = body.clone();
    let wanted = 1 + mutator.rng.below(3);
    let mut made = 0;
    // A kind that fits no node of this document is passed over for another.
    for _ in 0..wanted * 6 {
        if made == wanted {
            break;
        }
        let kind = KINDS[mutator.rng.below(KINDS.len() as u64) as usize];
        if mutator.apply(kind, &mut doc) {
            made += 1;
        }
    }
    let text = serde_json::to_string(&doc).unwrap_or_default();
    let mut bytes = text.replace(SURROGATE_MARK, "\\ud800").into_bytes();
    if let Some(share) = mutator.truncate_at {
        // At least one byte stays: an empty HTTP 200 is FusionSolar's real answer to a
        // wrong login, a verdict, not a spoiled reply.
        let len = bytes.len() as u64;
        bytes.truncate(usize::try_from(len * share / 1000).unwrap_or(0).max(1));
    }
    Mutated { bytes, applied: mutator.applied }
}

/// The seed of the `count`-th reply (1-based) of an account whose faults carry `seed`:
/// each reply gets its own mutations, the same ones on every run.
pub fn reply_seed(seed: u64, count: u64) -> u64 {
    mix(seed ^ mix(count))
}

/// What the per-portal property tests (`src/vendors/*/fuzz_tests.rs`) assert of a
/// decoder's output after the central step of the sync (bound the texts, drop the
/// implausible), in one place so the five portals are held to one rule.
#[cfg(test)]
pub(crate) mod check {
    use crate::domain::plausible::{
        MAX_CAPACITY_KW, MAX_DAILY_ENERGY_KWH, MAX_TOTAL_ENERGY_KWH, STANDBY_SHARE, TimeWindow,
    };
    use crate::domain::text::{ERROR_CHARS, TextBounds};
    use crate::domain::{Timestamp, VendorAlert, VendorPlant};
    use crate::vendors::http::Response;
    use serde_json::Value;

    /// Cases per property (each mutated reply may hold megabytes).
    pub(crate) const CASES: u32 = 32;

    /// The JSON fixtures of `vendor` (`tests/fixtures/<vendor>/*.json` and `recorded/`)
    /// whose names start with one of `prefixes`.
    pub(crate) fn fixtures(vendor: &str, prefixes: &[&str]) -> Vec<(String, Value)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut out = Vec::new();
        for dir in [root.join(vendor), root.join(vendor).join("recorded")] {
            let mut names: Vec<_> = std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|e| e == "json"))
                .collect();
            names.sort();
            for path in names {
                let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
                if !prefixes.iter().any(|p| name.starts_with(p)) {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if let Ok(value) = serde_json::from_str(&text) {
                    out.push((name, value));
                }
            }
        }
        assert!(!out.is_empty(), "no fixture of {vendor} starts with {prefixes:?}");
        out
    }

    /// `fixture` mutated by `seed`, as the adapter receives it: an HTTP 200 response.
    pub(crate) fn reply(fixture: &Value, seed: u64) -> Response {
        let body = super::mutate(fixture, seed).bytes;
        Response { status: 200, retry_after: None, headers: Vec::new(), body }
    }

    /// A decoder's or a classifier's error, as the run would quote it: bounded, printable,
    /// and saying something.
    pub(crate) fn error(text: &str) -> Result<(), String> {
        let chars = text.chars().count();
        if chars == 0 {
            return Err("an empty error".into());
        }
        // One quoted part and the words around it.
        if chars > ERROR_CHARS {
            return Err(format!("an error of {chars} chars"));
        }
        if text.chars().any(char::is_control) {
            return Err(format!(
                "a raw control character in {:?}",
                crate::domain::text::excerpt(text, 200)
            ));
        }
        Ok(())
    }

    fn within(value: Option<f64>, lo: f64, hi: f64) -> bool {
        value.is_none_or(|v| v.is_finite() && (lo..=hi).contains(&v))
    }

    fn bounded(text: &Option<String>, max: usize) -> bool {
        text.as_ref().is_none_or(|t| t.chars().count() <= max)
    }

    /// `plant` after the sync's central step holds every rule.
    pub(crate) fn plant(mut plant: VendorPlant, now: Timestamp) -> Result<(), String> {
        plant.bound_texts();
        plant.drop_implausible(now);
        let standby = plant.capacity_kw.map_or(1.0, |c| (c * STANDBY_SHARE).max(1.0));
        let rules = [
            ("latitude", within(plant.latitude, -90.0, 90.0)),
            ("longitude", within(plant.longitude, -180.0, 180.0)),
            ("capacity", within(plant.capacity_kw, 0.0, MAX_CAPACITY_KW)),
            ("power", within(plant.current_power_kw, -standby, MAX_CAPACITY_KW)),
            ("daily energy", within(plant.daily_energy_kwh, 0.0, MAX_DAILY_ENERGY_KWH)),
            ("total energy", within(plant.total_energy_kwh, 0.0, MAX_TOTAL_ENERGY_KWH)),
            ("update time", plant.vendor_updated_at.is_none_or(|t| TimeWindow::at(now).holds(&t))),
            ("id", !plant.vendor_plant_id.is_empty()),
            ("id bound", plant.vendor_plant_id.chars().count() <= TextBounds::PLANT_ID),
            ("name bound", bounded(&plant.name, TextBounds::NAME)),
            ("address bound", bounded(&plant.address, TextBounds::ADDRESS)),
            ("zone bound", bounded(&plant.timezone, TextBounds::WORD)),
            ("status bound", bounded(&plant.network_status, TextBounds::WORD)),
            ("raw bound", plant.raw_json.as_ref().is_none_or(|r| r.len() <= TextBounds::RAW_BYTES)),
        ];
        match rules.iter().find(|(_, holds)| !holds) {
            Some((rule, _)) => Err(format!(
                "{rule} broken: {}",
                crate::domain::text::excerpt(&format!("{plant:?}"), 600)
            )),
            None => Ok(()),
        }
    }

    /// `alert` after the sync's central step holds every rule, or is skipped for an
    /// implausible start (with a bounded reason); an implausible end is unset.
    pub(crate) fn alert(mut alert: VendorAlert, now: Timestamp) -> Result<(), String> {
        alert.bound_texts();
        match alert.check_times(now) {
            crate::domain::plausible::AlertTimes::Plausible => {}
            crate::domain::plausible::AlertTimes::EndDropped(why) => error(&why)?,
            crate::domain::plausible::AlertTimes::Unbelievable(why) => return error(&why),
        }
        let window = TimeWindow::at(now);
        let rules = [
            ("start", alert.started_at.is_none_or(|t| window.holds(&t))),
            ("end", alert.ended_at.is_none_or(|t| window.holds(&t))),
            ("key", !alert.vendor_alert_key.is_empty()),
            ("key bound", alert.vendor_alert_key.chars().count() <= TextBounds::ALERT_KEY),
            ("title bound", alert.title.chars().count() <= TextBounds::TITLE),
            ("code bound", bounded(&alert.code, TextBounds::CODE)),
            ("device bound", bounded(&alert.device_sn, TextBounds::CODE)),
            ("plant bound", bounded(&alert.vendor_plant_id, TextBounds::PLANT_ID)),
            ("description bound", bounded(&alert.description, TextBounds::DESCRIPTION)),
            ("raw bound", alert.raw_json.as_ref().is_none_or(|r| r.len() <= TextBounds::RAW_BYTES)),
        ];
        match rules.iter().find(|(_, holds)| !holds) {
            Some((rule, _)) => Err(format!(
                "{rule} broken: {}",
                crate::domain::text::excerpt(&format!("{alert:?}"), 600)
            )),
            None => Ok(()),
        }
    }

    /// The rows of a decoded page, each decoded on its own as the adapters do
    /// ([`crate::vendors::paging::decode_row`]), checked with `each`; a row that does not
    /// decode must say why in a bounded error.
    pub(crate) fn rows<W: serde::de::DeserializeOwned, T>(
        rows: &[Box<serde_json::value::RawValue>],
        convert: impl Fn(W, &str) -> Result<T, String>,
        each: impl Fn(T) -> Result<(), String>,
    ) -> Result<(), String> {
        for row in rows {
            match crate::vendors::paging::decode_row(row.get(), &convert) {
                Ok(decoded) => each(decoded)?,
                Err(reason) => error(&reason).map_err(|e| format!("row reason: {e}"))?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn listing() -> Value {
        json!({"success": true, "total": 2, "stationList": [
            {"id": 895, "name": "Roof", "installedCapacity": 12.5, "regionTimezone": "Asia/Shanghai",
             "lastUpdateTime": 1718000000.0},
            {"id": 896, "name": "Barn", "installedCapacity": "0.6", "regionTimezone": "Europe/Helsinki",
             "lastUpdateTime": 1718000001.0},
        ]})
    }

    #[test]
    fn the_same_seed_gives_the_same_bytes_and_seeds_differ() {
        let body = listing();
        let a = mutate(&body, 42);
        assert_eq!(a.bytes, mutate(&body, 42).bytes);
        assert!((1..=3).contains(&a.applied.len()), "{:?}", a.applied);
        let distinct: std::collections::HashSet<Vec<u8>> =
            (0..50).map(|seed| mutate(&body, seed).bytes).collect();
        assert!(distinct.len() > 40, "{} distinct of 50", distinct.len());
    }

    /// Over many seeds every kind of mutation occurs, and no identity becomes another
    /// readable identity: each id is its own value, or a boolean, an object or an array.
    #[test]
    fn every_kind_occurs_and_identities_only_become_unreadable() {
        let body = listing();
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..2000 {
            let out = mutate(&body, seed);
            for what in &out.applied {
                seen.insert(
                    what.split(" at ")
                        .next()
                        .unwrap_or(what)
                        .split(' ')
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
            let Ok(doc) = serde_json::from_slice::<Value>(&out.bytes) else { continue };
            let Some(rows) = doc.get("stationList").and_then(Value::as_array) else { continue };
            for row in rows {
                match row.get("id") {
                    Some(Value::Number(n)) => {
                        assert!([895, 896].contains(&n.as_i64().unwrap_or(0)), "seed {seed}: {n}")
                    }
                    Some(Value::Bool(_) | Value::Object(_) | Value::Array(_)) | None => {}
                    Some(other) => panic!("seed {seed}: id became {other}: {:?}", out.applied),
                }
            }
            // A cut list always contradicts its count.
            if rows.len() < 2 {
                assert_ne!(doc["total"], json!(rows.len()), "seed {seed}");
            }
        }
        for kind in [
            "type",
            "huge",
            "negated",
            "megabyte",
            "unicode",
            "deep",
            "body",
            "array",
            "wrong",
            "time",
            "impossible",
            "removed",
        ] {
            assert!(seen.contains(kind), "{kind} never occurred: {seen:?}");
        }
    }

    #[test]
    fn a_lone_surrogate_reaches_the_text() {
        let found = (0..2000)
            .map(|seed| mutate(&listing(), seed))
            .find(|m| std::str::from_utf8(&m.bytes).is_ok_and(|t| t.contains("\\ud800")));
        let text = String::from_utf8(found.expect("some seed inserts one").bytes).unwrap();
        assert!(!text.contains('\u{E000}'), "the mark is replaced");
    }
}
