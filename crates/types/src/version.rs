//! REST API versions such as `v59.0`.

use std::fmt;
use std::str::FromStr;

/// Why a string is not an API version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an API version; expected the form v59.0")]
pub struct VersionError(pub String);

/// A Salesforce REST API version (`v59.0`). Only the major number varies in practice.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ApiVersion(pub u16);

impl ApiVersion {
    /// The version callforce speaks unless told otherwise.
    pub const DEFAULT: Self = Self(59);

    /// Parses `v59.0`, `59.0` or `59`.
    ///
    /// # Errors
    /// [`VersionError`] when the string is not of that form.
    pub fn parse(s: &str) -> Result<Self, VersionError> {
        let err = || VersionError(s.to_owned());
        let t = s.strip_prefix('v').unwrap_or(s);
        let major = t.strip_suffix(".0").unwrap_or(t);
        let n: u16 = major.parse().map_err(|_| err())?;
        if !(20..=99).contains(&n) {
            return Err(err());
        }
        Ok(Self(n))
    }

    /// The version as a path segment without the `v`, such as `59.0`.
    pub fn number(&self) -> String {
        format!("{}.0", self.0)
    }
}

impl Default for ApiVersion {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.0", self.0)
    }
}

impl FromStr for ApiVersion {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_cases() {
        assert_eq!(ApiVersion::parse("v59.0"), Ok(ApiVersion(59)));
        assert_eq!(ApiVersion::parse("62.0"), Ok(ApiVersion(62)));
        assert_eq!(ApiVersion::parse("50"), Ok(ApiVersion(50)));
        assert!(ApiVersion::parse("v59.1").is_err());
        assert!(ApiVersion::parse("vx").is_err());
        assert!(ApiVersion::parse("v5.0").is_err());
        assert_eq!(ApiVersion(59).to_string(), "v59.0");
    }
}
