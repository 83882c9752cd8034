//! Salesforce record ids.
//!
//! An id is 15 case-sensitive base-62 characters: a 3-character key prefix naming the object,
//! then the instance and a counter. The 18-character form appends a checksum of three
//! characters, one per 5-character chunk, whose bit `i` is set when character `i` of the chunk
//! is an uppercase letter; it lets the id survive case-insensitive handling.

use std::fmt;
use std::str::FromStr;

const CHECKSUM_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a string is not a record id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The string is neither 15 nor 18 characters long.
    #[error("an id has 15 or 18 characters, this one has {0}")]
    Length(usize),
    /// A character outside `0-9`, `A-Z`, `a-z`.
    #[error("an id holds only letters and digits")]
    Character,
    /// The last three characters of an 18-character id do not match the first fifteen.
    #[error("the checksum (last three characters) does not match the id")]
    Checksum,
}

/// The 3-character key prefix of an id, which names its object (`001` is Account).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyPrefix([u8; 3]);

impl KeyPrefix {
    /// Parses a key prefix: exactly three letters or digits.
    pub fn new(s: &str) -> Option<Self> {
        let b: [u8; 3] = s.as_bytes().try_into().ok()?;
        b.iter().all(u8::is_ascii_alphanumeric).then_some(Self(b))
    }

    /// The prefix as a string.
    pub fn as_str(&self) -> &str {
        // Only ASCII alphanumerics are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for KeyPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPrefix({})", self.as_str())
    }
}

impl fmt::Display for KeyPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Salesforce record id, always held in its 18-character form.
///
/// It is `Copy` and 18 bytes, so it can be stored by value in large indexes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id([u8; 18]);

impl Id {
    /// Parses a 15- or 18-character id. An 18-character id must carry the right checksum.
    ///
    /// # Errors
    /// [`IdError`] when the length, a character or the checksum is wrong.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let b = s.as_bytes();
        if b.len() != 15 && b.len() != 18 {
            return Err(IdError::Length(s.chars().count()));
        }
        if !b.iter().all(u8::is_ascii_alphanumeric) {
            return Err(IdError::Character);
        }
        let mut out = [0u8; 18];
        out[..15].copy_from_slice(&b[..15]);
        out[15..].copy_from_slice(&checksum(&b[..15]));
        // The checksum is case-insensitive in practice: compare as given.
        if b.len() == 18 && b[15..] != out[15..] {
            return Err(IdError::Checksum);
        }
        Ok(Self(out))
    }

    /// Builds an id from a key prefix and a counter, as an org mints new records.
    ///
    /// The layout is prefix (3), instance `0D` (2), a zero (1) and the counter in base 62 (9),
    /// then the checksum.
    pub fn mint(prefix: KeyPrefix, counter: u64) -> Self {
        let mut out = [b'0'; 18];
        out[..3].copy_from_slice(&prefix.0);
        out[3] = b'0';
        out[4] = b'D';
        let mut n = counter;
        for i in (6..15).rev() {
            out[i] = BASE62[(n % 62) as usize];
            n /= 62;
        }
        let sum = checksum(&out[..15]);
        out[15..].copy_from_slice(&sum);
        Self(out)
    }

    /// The id as an 18-character string.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The 15-character, case-sensitive form.
    pub fn as_15(&self) -> &str {
        &self.as_str()[..15]
    }

    /// The key prefix, which names the object.
    pub fn key_prefix(&self) -> KeyPrefix {
        KeyPrefix([self.0[0], self.0[1], self.0[2]])
    }

    /// Whether a string looks like an id (15 or 18 letters and digits), whatever its checksum.
    pub fn looks_like(s: &str) -> bool {
        matches!(s.len(), 15 | 18) && s.bytes().all(|c| c.is_ascii_alphanumeric())
    }
}

fn checksum(id15: &[u8]) -> [u8; 3] {
    let mut sum = [0u8; 3];
    for (k, chunk) in id15.chunks(5).enumerate() {
        let bits = chunk
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_ascii_uppercase())
            .fold(0usize, |acc, (j, _)| acc | (1 << j));
        sum[k] = CHECKSUM_ALPHABET[bits];
    }
    sum
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.as_str())
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Id {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_ids_round_trip() {
        for id18 in [
            "001D000000IRFmaIAH",
            "001D000000IomazIAB",
            "003D000000QV9n2IAD",
            "001R00000033JNuIAM",
            "005R0000000I90CIAS",
            "001D000000K0fXOIAZ",
            "003R00000025REHIA2",
            "001RM000003oLnnYAE",
            "003RM0000068xV6YAI",
            "00Di0000000icUBEAY",
            "005i0000002MUqLAAW",
            "001xx000003DGb2AAG",
            "003xx000004TmiQAAS",
        ] {
            assert_eq!(Id::parse(&id18[..15]).unwrap().as_str(), id18);
            assert_eq!(Id::parse(id18).unwrap().as_str(), id18);
        }
    }

    #[test]
    fn parse_errors() {
        assert_eq!(Id::parse("001900K0001pPuOAAU"), Err(IdError::Checksum));
        assert_eq!(Id::parse("001xx000003DGb2999"), Err(IdError::Checksum));
        assert_eq!(Id::parse("001RM000003oLrB000"), Err(IdError::Checksum));
        assert_eq!(Id::parse("001"), Err(IdError::Length(3)));
        assert_eq!(Id::parse("001D000000IRF-a"), Err(IdError::Character));
        assert_eq!(Id::parse("001D000000IRFéa"), Err(IdError::Length(15)));
    }

    #[test]
    fn minted_ids_parse_and_keep_their_prefix() {
        let p = KeyPrefix::new("00Q").unwrap();
        for n in [0, 1, 61, 62, 1_000_000, u64::from(u32::MAX)] {
            let id = Id::mint(p, n);
            assert_eq!(Id::parse(id.as_str()), Ok(id));
            assert_eq!(id.key_prefix(), p);
        }
        assert_ne!(Id::mint(p, 1), Id::mint(p, 2));
    }

    proptest::proptest! {
        #[test]
        fn any_15_char_id_normalises_and_reparses(s in "[0-9A-Za-z]{15}") {
            let id = Id::parse(&s).unwrap();
            proptest::prop_assert_eq!(id.as_15(), s.as_str());
            proptest::prop_assert_eq!(Id::parse(id.as_str()).unwrap(), id);
        }
    }
}
