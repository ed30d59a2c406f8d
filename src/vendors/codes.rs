//! Status codes and words a portal sends that plantsync has no meaning for.
//!
//! A portal may add a state (FusionSolar's `real_health_state` 7, a Solarman word never
//! documented): the plant's normalized status is then `unknown`, and its word is what the
//! portal sent (the code's digits, the word itself), never a word plantsync makes up. A
//! value no portal would send as a state (a code of -1e308 read as an integer, a word of a
//! megabyte or with control characters) says nothing at all: `None`, so the stored status
//! and word stay and the value stays only in the raw record.

use crate::domain::PlantStatus;

/// The largest code taken for a state: portals number their states in ones and tens.
const MAX_CODE: i64 = 999;
/// The longest word taken for a state.
const MAX_WORD: usize = 32;

/// An unknown numeric state: `unknown` with its digits as the word, or nothing for a value
/// no portal sends as a state.
pub fn unknown_code(code: i64) -> Option<(String, PlantStatus)> {
    (0..=MAX_CODE).contains(&code).then(|| (code.to_string(), PlantStatus::Unknown))
}

/// An unknown word: `unknown` with the word as sent (trimmed), or nothing for text that is
/// no state word (empty, long, or other than letters, digits, `_` and `-`).
pub fn unknown_word(word: &str) -> Option<(String, PlantStatus)> {
    let word = word.trim();
    let is_word = !word.is_empty()
        && word.len() <= MAX_WORD
        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    is_word.then(|| (word.to_owned(), PlantStatus::Unknown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_states_are_unknown_and_garbage_says_nothing() {
        assert_eq!(unknown_code(7), Some(("7".to_owned(), PlantStatus::Unknown)));
        assert_eq!(unknown_code(0), Some(("0".to_owned(), PlantStatus::Unknown)));
        for garbage in [-1, 1000, i64::MIN, i64::MAX] {
            assert_eq!(unknown_code(garbage), None, "{garbage}");
        }
        assert_eq!(
            unknown_word(" NO_DEVICE "),
            Some(("NO_DEVICE".to_owned(), PlantStatus::Unknown))
        );
        for garbage in ["", "   ", "a\u{0}b", "ÄÖ", &"X".repeat(33), "two words"] {
            assert_eq!(unknown_word(garbage), None, "{garbage:?}");
        }
    }
}
