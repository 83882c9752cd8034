//! The closest valid value to a wrong one: case-insensitive match, then prefix, then edit
//! distance.

/// The candidate closest to `value`, or `None` when nothing is reasonably close.
pub fn closest<'a>(value: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let v = value.trim().to_lowercase();
    if v.is_empty() {
        return None;
    }
    let candidates: Vec<&str> = candidates.into_iter().collect();
    if let Some(c) = candidates.iter().find(|c| c.to_lowercase() == v) {
        return Some(c);
    }
    if let Some(c) = candidates.iter().find(|c| c.to_lowercase().starts_with(&v)) {
        return Some(c);
    }
    if let Some(c) = candidates
        .iter()
        .find(|c| v.starts_with(&c.to_lowercase()) || c.to_lowercase().contains(&v))
    {
        return Some(c);
    }
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(&v, &c.to_lowercase()), *c))
        .filter(|(d, c)| *d <= (c.len().max(v.len()) / 2).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The candidate equal to `value` ignoring case, if any (the canonical spelling).
pub fn canonical<'a>(
    value: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .find(|c| c.eq_ignore_ascii_case(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAGES: &[&str] = &[
        "Prospecting",
        "Qualification",
        "Proposal/Price Quote",
        "Negotiation/Review",
        "Closed Won",
        "Closed Lost",
    ];

    #[test]
    fn closest_value_by_case_prefix_and_distance() {
        let cases: &[(&str, Option<&str>)] = &[
            ("proposal", Some("Proposal/Price Quote")),
            ("closed won", Some("Closed Won")),
            ("negotiation", Some("Negotiation/Review")),
            ("Prospectin", Some("Prospecting")),
            ("Qualifcation", Some("Qualification")),
            ("won", Some("Closed Won")),
            ("xyzzy", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(closest(input, STAGES.iter().copied()), *want, "{input}");
        }
    }

    #[test]
    fn canonical_ignores_case_only() {
        assert_eq!(canonical("high", ["High", "Low"]), Some("High"));
        assert_eq!(canonical("hig", ["High", "Low"]), None);
    }
}
