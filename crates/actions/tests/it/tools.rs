//! Snapshot of the tool definitions models see.

use callforce_actions::{Catalog, Effect};

#[test]
fn tool_definitions_snapshot() {
    let tools = Catalog::with_examples().tools(None);
    insta::assert_json_snapshot!("tools", tools);
}

#[test]
fn every_destructive_template_is_a_delete_or_raw_call() {
    let c = Catalog::builtin();
    for a in c.actions() {
        let name = a.name();
        let destroys =
            name.starts_with("delete_") || name.starts_with("remove_") || name == "custom_api_call";
        assert_eq!(a.effect() == Effect::Destroy, destroys, "{name}");
    }
    for (name, confirm) in [
        ("search_contact", false),
        ("log_call", true),
        ("delete_case", true),
        ("identify_customer", false),
        ("create_contact_with_phone", true),
    ] {
        let c = Catalog::with_examples();
        assert_eq!(
            c.get(name).expect(name).needs_confirmation(),
            confirm,
            "{name}"
        );
    }
    let enabled = ["search_contact", "log_call"];
    let tools = c.tools(Some(&enabled));
    assert_eq!(
        tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        enabled
    );
}
