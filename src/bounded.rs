//! Text that came from elsewhere (a provider's answer, a server's error), made
//! safe to keep and show: control characters removed (a line break or tab
//! becomes a space) and the length bounded.
//! Label values are cut with a hash of what was cut away, so that two cut
//! values never collide; error texts are shortened with a `…`.

use std::borrow::Cow;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

/// What marks a text cut short.
pub const ELLIPSIS: char = '…';

/// The default of `label_value_length_limit`: the most bytes of a label value
/// that came from a provider.
pub const DEFAULT_LABEL_VALUE_LENGTH_LIMIT: usize = 1024;

/// The smallest `label_value_length_limit`: room for a readable start and the
/// hash that keeps cut values apart.
pub const MIN_LABEL_VALUE_LENGTH_LIMIT: usize = 32;

/// Hex digits of SHA-256 kept at the end of a cut label value (48 bits).
const HASH_DIGITS: usize = 12;

/// Whether `c` is removed from provider text: the C0 and C1 control
/// characters (NUL, CR, LF, ESC, DEL, …) and Unicode's bidirectional controls,
/// which can make a text read differently from what it holds.
pub fn is_removed(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` without [`is_removed`] characters, a line break or tab (which
/// separates words) becoming a space.
fn cleaned(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_removed) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .filter_map(|c| match c {
                '\t' | '\n' | '\r' | '\u{0b}' | '\u{0c}' | '\u{85}' => Some(' '),
                c if is_removed(c) => None,
                c => Some(c),
            })
            .collect(),
    )
}

/// A label value from a provider: [`cleaned`] and, when longer than `limit`
/// bytes, cut at a character boundary to `start…hash` of at most `limit`
/// bytes, where `hash` is the first
/// [`HASH_DIGITS`] hex digits of the SHA-256 of the whole cleaned value. The
/// flag says whether it was cut.
pub fn label_value(value: &str, limit: usize) -> (Cow<'_, str>, bool) {
    let clean = cleaned(value);
    if clean.len() <= limit {
        return (clean, false);
    }
    let digest = Sha256::digest(clean.as_bytes());
    let mut hash = String::with_capacity(HASH_DIGITS);
    for byte in &digest[..HASH_DIGITS / 2] {
        let _ = write!(hash, "{byte:02x}");
    }
    let room = limit.saturating_sub(ELLIPSIS.len_utf8() + HASH_DIGITS);
    let end = floor_char_boundary(&clean, room);
    (
        Cow::Owned(format!("{}{ELLIPSIS}{hash}", &clean[..end])),
        true,
    )
}

/// Cleans and bounds a label value in place; true when it was cut.
pub fn bound_label_value(value: &mut String, limit: usize) -> bool {
    let (bounded, cut) = label_value(value, limit);
    if let Cow::Owned(bounded) = bounded {
        *value = bounded;
    }
    cut
}

/// `text` [`cleaned`], cut to at most `max` bytes on a character boundary
/// and then ending with `…`.
pub fn shorten(text: &str, max: usize) -> String {
    let clean = cleaned(text);
    if clean.len() <= max {
        return clean.into_owned();
    }
    let end = floor_char_boundary(&clean, max.saturating_sub(ELLIPSIS.len_utf8()));
    format!("{}{ELLIPSIS}", &clean[..end])
}

/// The largest character boundary of `text` at or below `at`.
fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut end = at.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_values_stay_as_they_are_less_control_characters() {
        assert_eq!(label_value("acct-1", 32), (Cow::Borrowed("acct-1"), false));
        assert_eq!(
            label_value("a\0b\r\nc\u{202E}d\u{7f}\te", 32).0,
            Cow::<str>::Owned("ab  cd e".into())
        );
        assert_eq!(label_value("Zürich", 32).0, "Zürich");
    }

    #[test]
    fn long_values_are_cut_with_a_hash_of_the_whole() {
        let one = format!("{}1", "x".repeat(100));
        let two = format!("{}2", "x".repeat(100));
        let (a, cut) = label_value(&one, 40);
        let (b, _) = label_value(&two, 40);
        assert!(cut);
        assert_eq!(a.len(), 40);
        assert!(a.starts_with("xxxxxxxxxxxxxxxxxxxxxxxxx…"), "{a}");
        assert_ne!(a, b, "cut values that differ only after the cut stay apart");
        assert_eq!(
            label_value(&one, 40).0,
            a,
            "the same value is cut the same way"
        );
    }

    #[test]
    fn shorten_marks_the_cut() {
        assert_eq!(shorten("short", 10), "short");
        assert_eq!(shorten("a\nb\0", 10), "a b");
        let cut = shorten("ééééé", 6);
        assert!(cut.len() <= 6 && cut.ends_with(ELLIPSIS), "{cut}");
    }

    proptest! {
        #[test]
        fn bounded_values_fit_have_no_control_characters_and_keep_apart(
            a in "\\PC{0,80}|[\\x00-\\x7f]{0,200}",
            b in "\\PC{0,80}|[\\x00-\\x7f]{0,200}",
            limit in 32usize..120,
        ) {
            let (x, _) = label_value(&a, limit);
            let (y, _) = label_value(&b, limit);
            prop_assert!(x.len() <= limit);
            prop_assert!(!x.chars().any(is_removed));
            if cleaned(&a) != cleaned(&b) {
                prop_assert_ne!(x, y);
            }
        }
    }
}
