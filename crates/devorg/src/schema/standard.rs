//! The standard objects, with their real key prefixes, fields and flags.
//!
//! Each object is written as a list of fields built with the small constructors below
//! ([`string`], [`picklist`], [`reference`]...) and the chainable [`Build`] flags, so that a
//! definition reads like the object's field list in Setup. Every object gets the system fields
//! (`Id`, `IsDeleted`, `CreatedDate`, `CreatedById`, `LastModifiedDate`, `LastModifiedById`,
//! `SystemModstamp`) and, where the real object has one, `OwnerId`.
//!
//! Two pairs of real objects share a key prefix in a real org because one is a view of the
//! other: `ContentNote` rows are `ContentDocument` rows (both `069`), and
//! `KnowledgeArticleVersion` is the cross-type view of the article type `Knowledge__kav`.
//! The dev org keeps rows per object, so:
//! - `ContentNote` and `ContentDocument` both carry `069`; [`Schema::object_by_prefix`] answers
//!   `ContentNote` for it (it is defined last), since notes are what agents create;
//! - `KnowledgeArticleVersion` carries `ka0` and holds the demo articles (it is what agent
//!   templates query), while `Knowledge__kav`, present for describe and for clients that create
//!   articles, carries `ka1`. Rows created in one are not visible through the other.

use std::path::Path;

use serde_json::{Value, json};

use super::{FieldDef, FieldType, ObjectDef, PicklistValue, RecordTypeDef, Schema};
use crate::Result;
use callforce_types::{Id, KeyPrefix};

/// What an opportunity stage implies for the fields the org fills from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage {
    /// Default `Probability` (percent).
    pub probability: u8,
    /// Default `ForecastCategoryName` (`Pipeline`, `Best Case`, `Commit`, `Closed`, `Omitted`).
    pub forecast_category_name: &'static str,
    /// The matching `ForecastCategory` API value (`Pipeline`, `BestCase`, `Forecast`...).
    pub forecast_category: &'static str,
    /// `IsClosed`.
    pub closed: bool,
    /// `IsWon`.
    pub won: bool,
}

/// The ten standard opportunity stages, in sales-process order, with what each implies.
pub const STAGES: [(&str, Stage); 10] = {
    const fn open(probability: u8) -> Stage {
        Stage {
            probability,
            forecast_category_name: "Pipeline",
            forecast_category: "Pipeline",
            closed: false,
            won: false,
        }
    }
    [
        ("Prospecting", open(10)),
        ("Qualification", open(10)),
        ("Needs Analysis", open(20)),
        ("Value Proposition", open(50)),
        ("Id. Decision Makers", open(60)),
        ("Perception Analysis", open(70)),
        ("Proposal/Price Quote", open(75)),
        ("Negotiation/Review", open(90)),
        (
            "Closed Won",
            Stage {
                probability: 100,
                forecast_category_name: "Closed",
                forecast_category: "Closed",
                closed: true,
                won: true,
            },
        ),
        (
            "Closed Lost",
            Stage {
                probability: 0,
                forecast_category_name: "Omitted",
                forecast_category: "Omitted",
                closed: true,
                won: false,
            },
        ),
    ]
};

/// The defaults a standard stage implies (`Probability`, `ForecastCategoryName`, `IsClosed`,
/// `IsWon`), matched case-insensitively; `None` for a stage that is not standard (an org
/// accepts it, as `StageName` is not restricted, and treats it as an open pipeline stage).
pub fn stage_defaults(stage: &str) -> Option<Stage> {
    STAGES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(stage))
        .map(|(_, s)| *s)
}

/// Whether `status` is a closed status of `object`'s status picklist (`Case`: `Closed`;
/// `Task`: `Completed`; `Lead`: the two `Closed - ...` values), which sets `IsClosed`.
pub fn is_closed_status(object: &str, status: &str) -> bool {
    let closed: &[&str] = match object.to_ascii_lowercase().as_str() {
        "case" => &["Closed"],
        "task" => &["Completed"],
        "lead" => &["Closed - Converted", "Closed - Not Converted"],
        _ => &[],
    };
    closed.iter().any(|c| c.eq_ignore_ascii_case(status))
}

/// Chainable flags on a [`FieldDef`], so definitions read as one line per field.
pub(crate) trait Build: Sized {
    /// Sets the length of a text field.
    fn len(self, n: u32) -> Self;
    /// Makes the field non-nillable (required on create unless defaulted).
    fn not_null(self) -> Self;
    /// Makes the field neither createable nor updateable.
    fn read_only(self) -> Self;
    /// Makes the field createable but not updateable.
    fn create_only(self) -> Self;
    /// Marks the field as filled by the org on create when absent.
    fn defaulted(self) -> Self;
    /// Sets a default value (and marks the field defaulted on create).
    fn default(self, v: Value) -> Self;
    /// Marks the field unique.
    fn unique(self) -> Self;
    /// Marks the field computed: calculated and read-only.
    fn calculated(self) -> Self;
    /// Marks the field as the object's name field.
    fn name_field(self) -> Self;
    /// Marks the field as a part of the compound field `parent`.
    fn part_of(self, parent: &str) -> Self;
    /// Makes a picklist restricted.
    fn restricted(self) -> Self;
    /// Marks the field as an auto-number (read-only, defaulted).
    fn auto_number(self) -> Self;
}

impl Build for FieldDef {
    fn len(mut self, n: u32) -> Self {
        self.length = n;
        self
    }
    fn not_null(mut self) -> Self {
        self.nillable = false;
        self
    }
    fn read_only(mut self) -> Self {
        self.createable = false;
        self.updateable = false;
        self
    }
    fn create_only(mut self) -> Self {
        self.updateable = false;
        self
    }
    fn defaulted(mut self) -> Self {
        self.defaulted_on_create = true;
        self
    }
    fn default(mut self, v: Value) -> Self {
        self.default_value = Some(v);
        self.defaulted_on_create = true;
        self
    }
    fn unique(mut self) -> Self {
        self.unique = true;
        self
    }
    fn calculated(mut self) -> Self {
        self.calculated = true;
        self.read_only()
    }
    fn name_field(mut self) -> Self {
        self.name_field = true;
        self
    }
    fn part_of(mut self, parent: &str) -> Self {
        self.compound_field_name = Some(parent.to_owned());
        self
    }
    fn restricted(mut self) -> Self {
        self.restricted_picklist = true;
        self
    }
    fn auto_number(mut self) -> Self {
        self.auto_number = true;
        self.nillable = false;
        self.defaulted_on_create = true;
        self.read_only()
    }
}

/// The `Id` field: 18 characters, filled by the org.
pub(crate) fn id() -> FieldDef {
    FieldDef::new("Id", "Record ID", FieldType::Id)
        .len(18)
        .not_null()
        .read_only()
        .defaulted()
}

/// A text field.
pub(crate) fn string(name: &str, label: &str, len: u32) -> FieldDef {
    FieldDef::new(name, label, FieldType::String).len(len)
}

/// A text area.
pub(crate) fn textarea(name: &str, label: &str, len: u32) -> FieldDef {
    FieldDef::new(name, label, FieldType::TextArea).len(len)
}

/// An email field (80 characters).
pub(crate) fn email(name: &str, label: &str) -> FieldDef {
    FieldDef::new(name, label, FieldType::Email).len(80)
}

/// A phone field (40 characters).
pub(crate) fn phone(name: &str, label: &str) -> FieldDef {
    FieldDef::new(name, label, FieldType::Phone).len(40)
}

/// A URL field (255 characters).
pub(crate) fn url(name: &str, label: &str) -> FieldDef {
    FieldDef::new(name, label, FieldType::Url).len(255)
}

/// A checkbox: never null, `false` unless given.
pub(crate) fn boolean(name: &str, label: &str) -> FieldDef {
    FieldDef::new(name, label, FieldType::Boolean)
        .not_null()
        .default(json!(false))
}

/// An integer with `digits` digits.
pub(crate) fn int(name: &str, label: &str, digits: u32) -> FieldDef {
    let mut f = FieldDef::new(name, label, FieldType::Int);
    f.precision = digits;
    f
}

/// A number of type `ty` (double, currency, percent) with precision and scale.
pub(crate) fn number(
    name: &str,
    label: &str,
    ty: FieldType,
    precision: u32,
    scale: u32,
) -> FieldDef {
    let mut f = FieldDef::new(name, label, ty);
    f.precision = precision;
    f.scale = scale;
    f
}

/// A currency field with 18 digits, 2 after the point.
pub(crate) fn currency(name: &str, label: &str) -> FieldDef {
    number(name, label, FieldType::Currency, 18, 2)
}

/// A date.
pub(crate) fn date(name: &str, label: &str) -> FieldDef {
    FieldDef::new(name, label, FieldType::Date)
}

/// A date and time.
pub(crate) fn datetime(name: &str, label: &str) -> FieldDef {
    FieldDef::new(name, label, FieldType::DateTime)
}

/// Picklist entries whose labels are their values.
pub(crate) fn values(vals: &[&str]) -> Vec<PicklistValue> {
    vals.iter()
        .map(|v| PicklistValue {
            value: (*v).to_owned(),
            label: (*v).to_owned(),
            default: false,
        })
        .collect()
}

/// A picklist (255 characters) with the given values, unrestricted.
pub(crate) fn picklist(name: &str, label: &str, vals: &[&str]) -> FieldDef {
    let mut f = FieldDef::new(name, label, FieldType::Picklist).len(255);
    f.picklist = values(vals);
    f
}

/// A picklist whose values have labels differing from them (`[(value, label)]`).
fn picklist_labelled(name: &str, label: &str, vals: &[(&str, &str)]) -> FieldDef {
    let mut f = FieldDef::new(name, label, FieldType::Picklist).len(255);
    f.picklist = vals
        .iter()
        .map(|(v, l)| PicklistValue {
            value: (*v).to_owned(),
            label: (*l).to_owned(),
            default: false,
        })
        .collect();
    f
}

/// A combobox (a picklist that also takes free text).
fn combobox(name: &str, label: &str, vals: &[&str]) -> FieldDef {
    let mut f = picklist(name, label, vals);
    f.ty = FieldType::Combobox;
    f
}

/// Makes `value` the picklist's default for new records (and the field defaulted on create).
pub(crate) fn with_default(mut f: FieldDef, value: &str) -> FieldDef {
    for p in &mut f.picklist {
        p.default = p.value == value;
    }
    f.default(json!(value))
}

/// A lookup to `targets` (several for a polymorphic one) with relationship name `rel`.
pub(crate) fn reference(name: &str, label: &str, targets: &[&str], rel: &str) -> FieldDef {
    let mut f = FieldDef::new(name, label, FieldType::Reference).len(18);
    f.reference_to = targets.iter().map(|t| (*t).to_owned()).collect();
    f.relationship_name = Some(rel.to_owned());
    f
}

/// A compound address `prefix + "Address"` with its parts (`Street`, `City`, ...).
fn address(prefix: &str, label: &str) -> Vec<FieldDef> {
    let compound = format!("{prefix}Address");
    let part = |suffix: &str, part_label: &str, f: fn(&str, &str) -> FieldDef| {
        let name = format!("{prefix}{suffix}");
        let label = if label.is_empty() {
            part_label.to_owned()
        } else {
            format!("{label} {part_label}")
        };
        f(&name, &label).part_of(&compound)
    };
    let lat = |n: &str, l: &str| number(n, l, FieldType::Double, 18, 15);
    let geo = |n: &str, l: &str| {
        picklist(
            n,
            l,
            &[
                "Address",
                "NearAddress",
                "Block",
                "Street",
                "ExtendedZip",
                "Zip",
                "Neighborhood",
                "City",
                "County",
                "State",
                "Unknown",
            ],
        )
        .restricted()
    };
    let compound_label = if label.is_empty() {
        "Address".to_owned()
    } else {
        format!("{label} Address")
    };
    vec![
        part("Street", "Street", |n, l| textarea(n, l, 255)),
        part("City", "City", |n, l| string(n, l, 40)),
        part("State", "State/Province", |n, l| string(n, l, 80)),
        part("PostalCode", "Zip/Postal Code", |n, l| string(n, l, 20)),
        part("Country", "Country", |n, l| string(n, l, 80)),
        part("Latitude", "Latitude", lat),
        part("Longitude", "Longitude", lat),
        part("GeocodeAccuracy", "Geocode Accuracy", geo),
        FieldDef::new(&compound, &compound_label, FieldType::Address).read_only(),
    ]
}

/// A person's compound name: `Salutation`, `FirstName`, `LastName` (required) and `Name`.
fn person_name(salutation: bool) -> Vec<FieldDef> {
    let mut v = vec![
        string("LastName", "Last Name", 80)
            .not_null()
            .part_of("Name"),
        string("FirstName", "First Name", 40).part_of("Name"),
    ];
    if salutation {
        v.push(
            picklist(
                "Salutation",
                "Salutation",
                &["Mr.", "Ms.", "Mrs.", "Dr.", "Prof.", "Mx."],
            )
            .part_of("Name"),
        );
    }
    v.push(
        string("Name", "Full Name", 121)
            .not_null()
            .read_only()
            .name_field(),
    );
    v
}

/// Who may own records of an object.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// No `OwnerId` (detail objects, setup objects).
    None,
    /// Users only.
    User,
    /// Users or queues (`Group`).
    UserOrQueue,
}

/// `OwnerId` as the real object has it.
fn owner_field(owner: Owner) -> Option<FieldDef> {
    let targets: &[&str] = match owner {
        Owner::None => return None,
        Owner::User => &["User"],
        Owner::UserOrQueue => &["Group", "User"],
    };
    Some(
        reference("OwnerId", "Owner ID", targets, "Owner")
            .not_null()
            .defaulted(),
    )
}

/// Wraps an object's own fields with the system fields, in the order a real describe lists
/// them: `Id`, `IsDeleted`, the object's fields, `OwnerId`, then the audit fields.
pub(crate) fn with_system_fields(owner: Owner, fields: Vec<FieldDef>) -> Vec<FieldDef> {
    let mut v = Vec::with_capacity(fields.len() + 9);
    v.push(id());
    v.push(boolean("IsDeleted", "Deleted").read_only().defaulted());
    v.extend(fields);
    v.extend(owner_field(owner));
    let audit_ref = |name: &str, label: &str, rel: &str| {
        reference(name, label, &["User"], rel)
            .not_null()
            .read_only()
            .defaulted()
    };
    v.push(
        datetime("CreatedDate", "Created Date")
            .not_null()
            .read_only()
            .defaulted(),
    );
    v.push(audit_ref("CreatedById", "Created By ID", "CreatedBy"));
    v.push(
        datetime("LastModifiedDate", "Last Modified Date")
            .not_null()
            .read_only()
            .defaulted(),
    );
    v.push(audit_ref(
        "LastModifiedById",
        "Last Modified By ID",
        "LastModifiedBy",
    ));
    v.push(
        datetime("SystemModstamp", "System Modstamp")
            .not_null()
            .read_only()
            .defaulted(),
    );
    v
}

fn object(
    name: &str,
    label: &str,
    plural: &str,
    prefix: &str,
    owner: Owner,
    fields: Vec<FieldDef>,
) -> ObjectDef {
    // The prefixes are literals in this file, never input.
    let key_prefix = callforce_types::KeyPrefix::new(prefix).expect("standard key prefix");
    ObjectDef::new(
        name,
        label,
        plural,
        key_prefix,
        with_system_fields(owner, fields),
    )
}

fn read_only_object(mut o: ObjectDef) -> ObjectDef {
    o.createable = false;
    o.updateable = false;
    o.deletable = false;
    o
}

const LEAD_SOURCES: &[&str] = &[
    "Web",
    "Phone Inquiry",
    "Partner Referral",
    "Purchased List",
    "Other",
];
const RATINGS: &[&str] = &["Hot", "Warm", "Cold"];
const INDUSTRIES: &[&str] = &[
    "Agriculture",
    "Apparel",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Entertainment",
    "Environmental",
    "Finance",
    "Food & Beverage",
    "Government",
    "Healthcare",
    "Hospitality",
    "Insurance",
    "Machinery",
    "Manufacturing",
    "Media",
    "Not For Profit",
    "Recreation",
    "Retail",
    "Shipping",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Utilities",
    "Other",
];

/// The objects a Task or Event may be related to through `WhatId` (custom objects that allow
/// activities are added by the schema file).
pub const WHAT_TARGETS: &[&str] = &["Account", "Campaign", "Case", "Opportunity", "Product2"];

/// The objects a `ContentDocumentLink` or a `Note` may hang from.
const LINK_TARGETS: &[&str] = &[
    "Account",
    "Campaign",
    "Case",
    "Contact",
    "Lead",
    "Opportunity",
    "Product2",
    "User",
];

fn account() -> ObjectDef {
    let mut f = vec![
        string("Name", "Account Name", 255).not_null().name_field(),
        picklist(
            "Type",
            "Account Type",
            &[
                "Prospect",
                "Customer - Direct",
                "Customer - Channel",
                "Channel Partner / Reseller",
                "Installation Partner",
                "Technology Partner",
                "Other",
            ],
        ),
        reference("ParentId", "Parent Account ID", &["Account"], "Parent"),
    ];
    f.extend(address("Billing", "Billing"));
    f.extend(address("Shipping", "Shipping"));
    f.extend([
        phone("Phone", "Account Phone"),
        phone("Fax", "Account Fax"),
        string("AccountNumber", "Account Number", 40),
        url("Website", "Website"),
        string("Sic", "SIC Code", 20),
        picklist("Industry", "Industry", INDUSTRIES),
        number(
            "AnnualRevenue",
            "Annual Revenue",
            FieldType::Currency,
            18,
            0,
        ),
        int("NumberOfEmployees", "Employees", 8),
        picklist(
            "Ownership",
            "Ownership",
            &["Public", "Private", "Subsidiary", "Other"],
        ),
        string("TickerSymbol", "Ticker Symbol", 20),
        textarea("Description", "Account Description", 32000),
        picklist("Rating", "Account Rating", RATINGS),
        string("Site", "Account Site", 80),
        picklist("AccountSource", "Account Source", LEAD_SOURCES),
        date("LastActivityDate", "Last Activity").read_only(),
    ]);
    object("Account", "Account", "Accounts", "001", Owner::User, f)
}

fn contact() -> ObjectDef {
    let mut f = vec![reference(
        "AccountId",
        "Account ID",
        &["Account"],
        "Account",
    )];
    f.extend(person_name(true));
    f.extend(address("Other", "Other"));
    f.extend(address("Mailing", "Mailing"));
    f.extend([
        phone("Phone", "Business Phone"),
        phone("Fax", "Business Fax"),
        phone("MobilePhone", "Mobile Phone"),
        phone("HomePhone", "Home Phone"),
        phone("OtherPhone", "Other Phone"),
        phone("AssistantPhone", "Asst. Phone"),
        reference("ReportsToId", "Reports To ID", &["Contact"], "ReportsTo"),
        email("Email", "Email"),
        string("Title", "Title", 128),
        string("Department", "Department", 80),
        string("AssistantName", "Assistant's Name", 40),
        picklist("LeadSource", "Lead Source", LEAD_SOURCES),
        date("Birthdate", "Birthdate"),
        textarea("Description", "Contact Description", 32000),
        boolean("HasOptedOutOfEmail", "Email Opt Out"),
        boolean("HasOptedOutOfFax", "Fax Opt Out"),
        boolean("DoNotCall", "Do Not Call"),
        date("LastActivityDate", "Last Activity").read_only(),
        string("EmailBouncedReason", "Email Bounced Reason", 255),
        datetime("EmailBouncedDate", "Email Bounced Date"),
    ]);
    object("Contact", "Contact", "Contacts", "003", Owner::User, f)
}

fn lead() -> ObjectDef {
    let mut f = person_name(true);
    f.extend([
        string("Title", "Title", 128),
        string("Company", "Company", 255).not_null(),
    ]);
    f.extend(address("", ""));
    f.extend([
        phone("Phone", "Phone"),
        phone("MobilePhone", "Mobile Phone"),
        phone("Fax", "Fax"),
        email("Email", "Email"),
        url("Website", "Website"),
        textarea("Description", "Description", 32000),
        picklist("LeadSource", "Lead Source", LEAD_SOURCES).restricted(),
        reference(
            "RecordTypeId",
            "Record Type ID",
            &["RecordType"],
            "RecordType",
        ),
        with_default(
            picklist(
                "Status",
                "Status",
                &[
                    "Open - Not Contacted",
                    "Working - Contacted",
                    "Closed - Converted",
                    "Closed - Not Converted",
                ],
            )
            .not_null(),
            "Open - Not Contacted",
        ),
        picklist("Industry", "Industry", INDUSTRIES),
        picklist("Rating", "Rating", RATINGS),
        number(
            "AnnualRevenue",
            "Annual Revenue",
            FieldType::Currency,
            18,
            0,
        ),
        int("NumberOfEmployees", "Employees", 8),
        boolean("HasOptedOutOfEmail", "Email Opt Out"),
        boolean("IsConverted", "Converted"),
        date("ConvertedDate", "Converted Date").read_only(),
        reference(
            "ConvertedAccountId",
            "Converted Account ID",
            &["Account"],
            "ConvertedAccount",
        )
        .read_only(),
        reference(
            "ConvertedContactId",
            "Converted Contact ID",
            &["Contact"],
            "ConvertedContact",
        )
        .read_only(),
        reference(
            "ConvertedOpportunityId",
            "Converted Opportunity ID",
            &["Opportunity"],
            "ConvertedOpportunity",
        )
        .read_only(),
        boolean("IsUnreadByOwner", "Unread By Owner"),
        boolean("DoNotCall", "Do Not Call"),
        boolean("HasOptedOutOfFax", "Fax Opt Out"),
        date("LastActivityDate", "Last Activity").read_only(),
        string("EmailBouncedReason", "Email Bounced Reason", 255),
        datetime("EmailBouncedDate", "Email Bounced Date"),
    ]);
    let mut o = object("Lead", "Lead", "Leads", "00Q", Owner::UserOrQueue, f);
    o.record_types = lead_record_types();
    o
}

/// The id of the `n`th record type of the schema (`0120D...`).
pub(crate) fn record_type_id(n: u64) -> Id {
    Id::mint(KeyPrefix::new("012").expect("a constant valid prefix"), n)
}

/// Lead's record types: inbound leads (every status, the sources a lead comes in by) and
/// partner leads (no "Closed - Not Converted": a partner's lead is handed back instead; sources
/// a partner brings).
fn lead_record_types() -> Vec<RecordTypeDef> {
    let list = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    vec![
        RecordTypeDef {
            id: record_type_id(1),
            name: "Inbound".into(),
            developer_name: "Inbound".into(),
            default: true,
            picklists: vec![
                (
                    "Status".into(),
                    list(&[
                        "Open - Not Contacted",
                        "Working - Contacted",
                        "Closed - Converted",
                        "Closed - Not Converted",
                    ]),
                ),
                (
                    "LeadSource".into(),
                    list(&["Web", "Phone Inquiry", "Purchased List", "Other"]),
                ),
            ],
        },
        RecordTypeDef {
            id: record_type_id(2),
            name: "Partner".into(),
            developer_name: "Partner".into(),
            default: false,
            picklists: vec![
                (
                    "Status".into(),
                    list(&[
                        "Open - Not Contacted",
                        "Working - Contacted",
                        "Closed - Converted",
                    ]),
                ),
                ("LeadSource".into(), list(&["Partner Referral", "Other"])),
            ],
        },
    ]
}

fn opportunity() -> ObjectDef {
    let stages: Vec<&str> = STAGES.iter().map(|(s, _)| *s).collect();
    let f = vec![
        reference("AccountId", "Account ID", &["Account"], "Account"),
        boolean("IsPrivate", "Private"),
        string("Name", "Name", 120).not_null().name_field(),
        textarea("Description", "Description", 32000),
        picklist("StageName", "Stage", &stages).not_null(),
        currency("Amount", "Amount"),
        number("Probability", "Probability (%)", FieldType::Percent, 3, 0).defaulted(),
        currency("ExpectedRevenue", "Expected Amount").calculated(),
        number(
            "TotalOpportunityQuantity",
            "Quantity",
            FieldType::Double,
            18,
            2,
        ),
        date("CloseDate", "Close Date").not_null(),
        picklist(
            "Type",
            "Opportunity Type",
            &[
                "Existing Customer - Upgrade",
                "Existing Customer - Replacement",
                "Existing Customer - Downgrade",
                "New Customer",
            ],
        ),
        string("NextStep", "Next Step", 255),
        picklist("LeadSource", "Lead Source", LEAD_SOURCES),
        boolean("IsClosed", "Closed").read_only(),
        boolean("IsWon", "Won").read_only(),
        picklist_labelled(
            "ForecastCategory",
            "Forecast Category",
            &[
                ("Omitted", "Omitted"),
                ("Pipeline", "Pipeline"),
                ("BestCase", "Best Case"),
                ("Forecast", "Commit"),
                ("Closed", "Closed"),
            ],
        )
        .restricted()
        .not_null()
        .read_only()
        .defaulted(),
        picklist(
            "ForecastCategoryName",
            "Forecast Category",
            &["Omitted", "Pipeline", "Best Case", "Commit", "Closed"],
        )
        .restricted()
        .defaulted(),
        reference("CampaignId", "Campaign ID", &["Campaign"], "Campaign"),
        boolean("HasOpportunityLineItem", "Has Line Item").read_only(),
        reference(
            "Pricebook2Id",
            "Price Book ID",
            &["Pricebook2"],
            "Pricebook2",
        ),
        date("LastActivityDate", "Last Activity").read_only(),
        int("FiscalQuarter", "Fiscal Quarter", 11).read_only(),
        int("FiscalYear", "Fiscal Year", 11).read_only(),
        string("Fiscal", "Fiscal Period", 6).read_only(),
    ];
    object(
        "Opportunity",
        "Opportunity",
        "Opportunities",
        "006",
        Owner::User,
        f,
    )
}

fn case() -> ObjectDef {
    let f = vec![
        string("CaseNumber", "Case Number", 30)
            .auto_number()
            .name_field(),
        reference("ContactId", "Contact ID", &["Contact"], "Contact"),
        reference("AccountId", "Account ID", &["Account"], "Account"),
        reference("ParentId", "Parent Case ID", &["Case"], "Parent"),
        string("SuppliedName", "Name", 80),
        email("SuppliedEmail", "Email Address"),
        string("SuppliedPhone", "Phone", 40),
        string("SuppliedCompany", "Company", 80),
        picklist(
            "Type",
            "Case Type",
            &[
                "Mechanical",
                "Electrical",
                "Electronic",
                "Structural",
                "Other",
            ],
        ),
        with_default(
            picklist(
                "Status",
                "Status",
                &["New", "Working", "Escalated", "Closed"],
            )
            .not_null(),
            "New",
        ),
        picklist(
            "Reason",
            "Case Reason",
            &[
                "Installation",
                "Equipment Complexity",
                "Performance",
                "Breakdown",
                "Equipment Design",
                "Feedback",
                "Other",
            ],
        ),
        picklist("Origin", "Case Origin", &["Phone", "Email", "Web"]),
        string("Subject", "Subject", 255),
        with_default(
            picklist("Priority", "Priority", &["High", "Medium", "Low"]),
            "Medium",
        ),
        textarea("Description", "Description", 32000),
        boolean("IsClosed", "Closed").read_only(),
        datetime("ClosedDate", "Closed Date").read_only(),
        boolean("IsEscalated", "Escalated"),
        phone("ContactPhone", "Contact Phone").read_only(),
        phone("ContactMobile", "Contact Mobile").read_only(),
        email("ContactEmail", "Contact Email").read_only(),
        phone("ContactFax", "Contact Fax").read_only(),
        textarea("Comments", "Internal Comments", 4000),
    ];
    object("Case", "Case", "Cases", "500", Owner::UserOrQueue, f)
}

fn task() -> ObjectDef {
    let f = vec![
        reference("WhoId", "Name ID", &["Contact", "Lead"], "Who"),
        reference("WhatId", "Related To ID", WHAT_TARGETS, "What"),
        combobox(
            "Subject",
            "Subject",
            &["Call", "Send Letter", "Send Quote", "Other"],
        ),
        date("ActivityDate", "Due Date Only"),
        with_default(
            picklist(
                "Status",
                "Status",
                &[
                    "Not Started",
                    "In Progress",
                    "Completed",
                    "Waiting on someone else",
                    "Deferred",
                ],
            )
            .not_null(),
            "Not Started",
        ),
        with_default(
            picklist("Priority", "Priority", &["High", "Normal", "Low"]).not_null(),
            "Normal",
        ),
        boolean("IsHighPriority", "High Priority").read_only(),
        textarea("Description", "Description", 32000),
        reference("AccountId", "Account ID", &["Account"], "Account").read_only(),
        boolean("IsClosed", "Closed").read_only(),
        boolean("IsArchived", "Archived").read_only(),
        int("CallDurationInSeconds", "Call Duration", 8),
        picklist(
            "CallType",
            "Call Type",
            &["Internal", "Inbound", "Outbound"],
        )
        .restricted(),
        string("CallDisposition", "Call Result", 255),
        string("CallObject", "Call Object Identifier", 255),
        datetime("ReminderDateTime", "Reminder Date/Time"),
        boolean("IsReminderSet", "Reminder Set"),
        picklist(
            "TaskSubtype",
            "Task Subtype",
            &["Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"],
        )
        .restricted()
        .create_only()
        .defaulted(),
        datetime("CompletedDateTime", "Completed Date/Time").read_only(),
    ];
    object("Task", "Task", "Tasks", "00T", Owner::User, f)
}

fn event() -> ObjectDef {
    let f = vec![
        reference("WhoId", "Name ID", &["Contact", "Lead"], "Who"),
        reference("WhatId", "Related To ID", WHAT_TARGETS, "What"),
        combobox(
            "Subject",
            "Subject",
            &["Call", "Email", "Meeting", "Send Letter/Quote", "Other"],
        ),
        string("Location", "Location", 255),
        boolean("IsAllDayEvent", "All-Day Event"),
        datetime("ActivityDateTime", "Due Date Time"),
        date("ActivityDate", "Due Date Only"),
        int("DurationInMinutes", "Duration", 8),
        datetime("StartDateTime", "Start Date Time"),
        datetime("EndDateTime", "End Date Time"),
        date("EndDate", "End").read_only(),
        textarea("Description", "Description", 32000),
        reference("AccountId", "Account ID", &["Account"], "Account").read_only(),
        boolean("IsPrivate", "Private"),
        with_default(
            picklist_labelled(
                "ShowAs",
                "Show Time As",
                &[
                    ("Busy", "Busy"),
                    ("OutOfOffice", "Out of Office"),
                    ("Free", "Free"),
                ],
            )
            .restricted(),
            "Busy",
        ),
        boolean("IsReminderSet", "Reminder Set"),
        datetime("ReminderDateTime", "Reminder Date/Time"),
        picklist("EventSubtype", "Event Subtype", &["Event"])
            .restricted()
            .create_only()
            .defaulted(),
        boolean("IsArchived", "Archived").read_only(),
    ];
    object("Event", "Event", "Events", "00U", Owner::User, f)
}

fn content_document() -> ObjectDef {
    let f = vec![
        string("Title", "Title", 255).not_null().name_field(),
        picklist_labelled(
            "PublishStatus",
            "Publish Status",
            &[
                ("U", "Upload Interrupted"),
                ("P", "Public"),
                ("R", "Personal Library"),
            ],
        )
        .restricted()
        .read_only(),
        reference(
            "LatestPublishedVersionId",
            "Latest Published Version ID",
            &["ContentVersion"],
            "LatestPublishedVersion",
        )
        .read_only(),
        textarea("Description", "Description", 1000),
        int("ContentSize", "Size", 10).read_only(),
        string("FileType", "File Type", 20).read_only(),
        string("FileExtension", "File Extension", 40).read_only(),
        boolean("IsArchived", "Is Archived").read_only(),
        date("ArchivedDate", "Archived Date").read_only(),
    ];
    let mut o = object(
        "ContentDocument",
        "Content Document",
        "Content Documents",
        "069",
        Owner::User,
        f,
    );
    // Documents are created through ContentVersion or ContentNote, never directly.
    o.createable = false;
    o
}

fn content_version() -> ObjectDef {
    let f = vec![
        reference(
            "ContentDocumentId",
            "ContentDocument ID",
            &["ContentDocument"],
            "ContentDocument",
        )
        .create_only(),
        boolean("IsLatest", "Is Latest").read_only(),
        url("ContentUrl", "Content URL"),
        string("VersionNumber", "Version Number", 20).read_only(),
        string("Title", "Title", 255).not_null().name_field(),
        textarea("Description", "Description", 1000),
        string("ReasonForChange", "Reason For Change", 1000),
        string("PathOnClient", "Path On Client", 500).create_only(),
        FieldDef::new("VersionData", "Version Data", FieldType::Base64),
        string("FileType", "File Type", 20).read_only(),
        string("FileExtension", "File Extension", 40).read_only(),
        int("ContentSize", "Size", 10).read_only(),
        reference(
            "FirstPublishLocationId",
            "First Publish Location ID",
            LINK_TARGETS,
            "FirstPublishLocation",
        )
        .create_only(),
        with_default(
            picklist_labelled(
                "Origin",
                "Content Origin",
                &[("C", "Content"), ("H", "Chatter")],
            )
            .restricted()
            .create_only(),
            "C",
        ),
        with_default(
            picklist_labelled(
                "ContentLocation",
                "Content Location",
                &[
                    ("S", "Salesforce"),
                    ("E", "External"),
                    ("L", "Social Customer Service"),
                ],
            )
            .restricted()
            .create_only(),
            "S",
        ),
    ];
    object(
        "ContentVersion",
        "Content Version",
        "Content Versions",
        "068",
        Owner::User,
        f,
    )
}

fn content_note() -> ObjectDef {
    let f = vec![
        string("Title", "Title", 255).not_null().name_field(),
        FieldDef::new("Content", "Content", FieldType::Base64),
        string("TextPreview", "Text Preview", 300).read_only(),
        string("FileType", "File Type", 20).read_only(),
        string("FileExtension", "File Extension", 40).read_only(),
        int("ContentSize", "Size", 10).read_only(),
        boolean("IsReadOnly", "Is Read Only").read_only(),
        reference(
            "LatestPublishedVersionId",
            "Latest Published Version ID",
            &["ContentVersion"],
            "LatestPublishedVersion",
        )
        .read_only(),
        reference(
            "LatestContentId",
            "Latest Content ID",
            &["ContentVersion"],
            "LatestContent",
        )
        .read_only(),
    ];
    object("ContentNote", "Note", "Notes", "069", Owner::User, f)
}

fn content_document_link() -> ObjectDef {
    let f = vec![
        reference(
            "LinkedEntityId",
            "Linked Entity ID",
            LINK_TARGETS,
            "LinkedEntity",
        )
        .not_null()
        .create_only(),
        reference(
            "ContentDocumentId",
            "ContentDocument ID",
            &["ContentDocument"],
            "ContentDocument",
        )
        .not_null()
        .create_only(),
        picklist_labelled(
            "ShareType",
            "Share Type",
            &[("V", "Viewer"), ("C", "Collaborator"), ("I", "Inferred")],
        )
        .restricted()
        .defaulted(),
        picklist_labelled(
            "Visibility",
            "Visibility",
            &[
                ("AllUsers", "All Users"),
                ("InternalUsers", "Standard Users"),
                ("SharedUsers", "Shared Users"),
            ],
        )
        .restricted()
        .defaulted(),
    ];
    let mut o = object(
        "ContentDocumentLink",
        "Content Document Link",
        "Content Document Links",
        "06A",
        Owner::None,
        f,
    );
    o.searchable = false;
    o
}

fn note() -> ObjectDef {
    let f = vec![
        reference("ParentId", "Parent ID", LINK_TARGETS, "Parent")
            .not_null()
            .create_only(),
        string("Title", "Title", 80).not_null().name_field(),
        boolean("IsPrivate", "Private"),
        textarea("Body", "Body", 32000),
    ];
    object("Note", "Note", "Notes", "002", Owner::User, f)
}

/// The fields shared by `KnowledgeArticleVersion` and the article type `Knowledge__kav`.
fn article_version_fields() -> Vec<FieldDef> {
    vec![
        reference(
            "KnowledgeArticleId",
            "Knowledge Article ID",
            &["KnowledgeArticle"],
            "KnowledgeArticle",
        )
        .read_only()
        .defaulted(),
        string("Title", "Title", 255).not_null().name_field(),
        string("UrlName", "URL Name", 255).not_null(),
        textarea("Summary", "Summary", 1000),
        picklist(
            "PublishStatus",
            "Publication Status",
            &["Draft", "Online", "Archived"],
        )
        .restricted()
        .not_null()
        .read_only()
        .defaulted(),
        with_default(
            picklist_labelled(
                "Language",
                "Language",
                &[
                    ("en_US", "English"),
                    ("de", "German"),
                    ("fr", "French"),
                    ("es", "Spanish"),
                ],
            )
            .restricted()
            .not_null()
            .create_only(),
            "en_US",
        ),
        string("ArticleNumber", "Article Number", 30).auto_number(),
        int("VersionNumber", "Version Number", 9)
            .read_only()
            .defaulted(),
        boolean("IsLatestVersion", "Is Latest Version").read_only(),
        boolean("IsVisibleInApp", "Visible In Internal App"),
        boolean("IsVisibleInPkb", "Visible In Public Knowledge Base"),
        boolean("IsVisibleInCsp", "Visible to Customer"),
        boolean("IsVisibleInPrm", "Visible to Partner"),
        picklist(
            "ValidationStatus",
            "Validation Status",
            &["Not Validated", "Validated"],
        ),
        datetime("FirstPublishedDate", "First Published Date").read_only(),
        datetime("LastPublishedDate", "Last Published Date").read_only(),
        datetime("ArchivedDate", "Archived Date").read_only(),
        datetime("ArticleCreatedDate", "Article Created Date").read_only(),
        int("ArticleTotalViewCount", "Article Total View Count", 18).read_only(),
    ]
}

fn knowledge_article() -> ObjectDef {
    let f = vec![
        string("ArticleNumber", "Article Number", 30).auto_number(),
        datetime("FirstPublishedDate", "First Published Date").read_only(),
        datetime("LastPublishedDate", "Last Published Date").read_only(),
        datetime("ArchivedDate", "Archived Date").read_only(),
        int("CaseAssociationCount", "Case Association Count", 9).read_only(),
    ];
    read_only_object(object(
        "KnowledgeArticle",
        "Knowledge Article",
        "Knowledge Articles",
        "kA0",
        Owner::None,
        f,
    ))
}

fn knowledge_article_version() -> ObjectDef {
    let mut o = object(
        "KnowledgeArticleVersion",
        "Knowledge Article Version",
        "Knowledge Article Versions",
        "ka0",
        Owner::User,
        article_version_fields(),
    );
    // The cross-type view is read through queries; articles are written per article type.
    o.createable = false;
    o.updateable = false;
    o
}

fn knowledge_kav() -> ObjectDef {
    let mut o = object(
        "Knowledge__kav",
        "Knowledge",
        "Knowledge",
        "ka1",
        Owner::User,
        article_version_fields(),
    );
    o.custom = true;
    o
}

fn user() -> ObjectDef {
    let mut f = vec![string("Username", "Username", 80).not_null().unique()];
    f.extend(person_name(false));
    f.extend([
        string("CompanyName", "Company Name", 80),
        string("Division", "Division", 80),
        string("Department", "Department", 80),
        string("Title", "Title", 80),
    ]);
    f.extend(address("", ""));
    f.extend([
        email("Email", "Email").not_null(),
        phone("Phone", "Phone"),
        phone("MobilePhone", "Mobile"),
        string("Alias", "Alias", 8).not_null(),
        string("CommunityNickname", "Nickname", 40)
            .not_null()
            .defaulted(),
        boolean("IsActive", "Active").default(json!(true)),
        with_default(
            picklist(
                "TimeZoneSidKey",
                "Time Zone",
                &[
                    "America/Los_Angeles",
                    "America/Denver",
                    "America/Chicago",
                    "America/New_York",
                    "Europe/London",
                    "Europe/Paris",
                    "Asia/Tokyo",
                    "GMT",
                ],
            )
            .restricted()
            .not_null(),
            "America/Los_Angeles",
        ),
        with_default(
            picklist(
                "LocaleSidKey",
                "Locale",
                &["en_US", "en_GB", "de_DE", "fr_FR", "es_ES"],
            )
            .restricted()
            .not_null(),
            "en_US",
        ),
        with_default(
            picklist(
                "EmailEncodingKey",
                "Email Encoding",
                &["UTF-8", "ISO-8859-1"],
            )
            .restricted()
            .not_null(),
            "UTF-8",
        ),
        with_default(
            picklist(
                "LanguageLocaleKey",
                "Language",
                &["en_US", "de", "fr", "es", "ja"],
            )
            .restricted()
            .not_null(),
            "en_US",
        ),
        reference("ProfileId", "Profile ID", &["Profile"], "Profile").not_null(),
        reference("UserRoleId", "Role ID", &["UserRole"], "UserRole"),
        reference("ManagerId", "Manager ID", &["User"], "Manager"),
        picklist(
            "UserType",
            "User Type",
            &[
                "Standard",
                "PowerPartner",
                "CspLitePortal",
                "CustomerSuccess",
                "Guest",
            ],
        )
        .restricted()
        .read_only()
        .defaulted(),
        string("FederationIdentifier", "SAML Federation ID", 512),
        string("EmployeeNumber", "Employee Number", 20),
        phone("Extension", "Extension"),
        datetime("LastLoginDate", "Last Login").read_only(),
    ]);
    let mut o = object("User", "User", "Users", "005", Owner::None, f);
    o.deletable = false;
    o
}

fn profile() -> ObjectDef {
    let f = vec![
        string("Name", "Name", 255).not_null().name_field(),
        picklist(
            "UserType",
            "User Type",
            &["Standard", "PowerPartner", "Guest"],
        )
        .restricted()
        .read_only(),
        string("Description", "Description", 255),
    ];
    read_only_object(object(
        "Profile",
        "Profile",
        "Profile",
        "00e",
        Owner::None,
        f,
    ))
}

fn group() -> ObjectDef {
    let f = vec![
        string("Name", "Name", 40).not_null().name_field(),
        string("DeveloperName", "Developer Name", 80).defaulted(),
        reference("RelatedId", "Related ID", &["User", "UserRole"], "Related").read_only(),
        picklist_labelled(
            "Type",
            "Type",
            &[
                ("Regular", "Public Group"),
                ("Role", "Role"),
                ("RoleAndSubordinates", "Role and Subordinates"),
                ("Organization", "Organization"),
                ("Queue", "Queue"),
                ("Manager", "Manager"),
                ("ManagerAndSubordinatesInternal", "Manager and Subordinates"),
            ],
        )
        .restricted()
        .not_null()
        .create_only(),
        email("Email", "Email"),
        boolean("DoesSendEmailToMembers", "Send Email to Members"),
        boolean("DoesIncludeBosses", "Include Bosses"),
    ];
    let mut o = object("Group", "Group", "Groups", "00G", Owner::None, f);
    let owner = reference("OwnerId", "Owner ID", &["Organization", "User"], "Owner")
        .not_null()
        .defaulted();
    let at = o.fields.len() - 5;
    o.fields.insert(at, owner);
    o.reindex();
    o
}

fn user_role() -> ObjectDef {
    let access = &["None", "Read", "Edit"];
    let f = vec![
        string("Name", "Name", 80).not_null().name_field(),
        reference(
            "ParentRoleId",
            "Parent Role ID",
            &["UserRole"],
            "ParentRole",
        ),
        string("DeveloperName", "Developer Name", 80).defaulted(),
        string("RollupDescription", "Description", 80),
        picklist(
            "OpportunityAccessForAccountOwner",
            "Opportunity Access",
            access,
        )
        .restricted(),
        picklist("CaseAccessForAccountOwner", "Case Access", access).restricted(),
        picklist("ContactAccessForAccountOwner", "Contact Access", access).restricted(),
        reference(
            "ForecastUserId",
            "Forecast Manager ID",
            &["User"],
            "ForecastUser",
        ),
    ];
    object("UserRole", "Role", "Roles", "00E", Owner::None, f)
}

fn record_type() -> ObjectDef {
    let f = vec![
        string("Name", "Record Type Name", 80)
            .not_null()
            .name_field(),
        string("DeveloperName", "Record Type Name", 80).not_null(),
        string("NamespacePrefix", "Namespace Prefix", 15).read_only(),
        string("Description", "Description", 255),
        picklist(
            "SobjectType",
            "SObject Type Name",
            &[
                "Account",
                "Campaign",
                "Case",
                "Contact",
                "Lead",
                "Opportunity",
                "Product2",
            ],
        )
        .not_null(),
        boolean("IsActive", "Active"),
    ];
    read_only_object(object(
        "RecordType",
        "Record Type",
        "Record Types",
        "012",
        Owner::None,
        f,
    ))
}

fn organization() -> ObjectDef {
    let mut f = vec![
        string("Name", "Name", 80).not_null().name_field(),
        string("Division", "Division", 80),
    ];
    f.extend(address("", ""));
    f.extend([
        phone("Phone", "Phone"),
        phone("Fax", "Fax"),
        string("PrimaryContact", "Primary Contact", 80),
        string("DefaultLocaleSidKey", "Locale", 40),
        string("LanguageLocaleKey", "Language", 40),
        string("TimeZoneSidKey", "Time Zone", 40),
        string("InstanceName", "Instance Name", 5).read_only(),
        boolean("IsSandbox", "Is Sandbox").read_only(),
        string("OrganizationType", "Edition", 40).read_only(),
        string("NamespacePrefix", "Namespace Prefix", 15).read_only(),
        datetime("TrialExpirationDate", "Trial Expiration Date").read_only(),
    ]);
    read_only_object(object(
        "Organization",
        "Organization",
        "Organizations",
        "00D",
        Owner::None,
        f,
    ))
}

fn product2() -> ObjectDef {
    let f = vec![
        string("Name", "Product Name", 255).not_null().name_field(),
        string("ProductCode", "Product Code", 255),
        textarea("Description", "Product Description", 4000),
        boolean("IsActive", "Active"),
        picklist(
            "Family",
            "Product Family",
            &["Software", "Hardware", "Services", "Support"],
        ),
        picklist(
            "QuantityUnitOfMeasure",
            "Quantity Unit Of Measure",
            &["Each"],
        ),
        string("StockKeepingUnit", "Product SKU", 180),
        FieldDef::new("DisplayUrl", "Display URL", FieldType::Url).len(1000),
        string("ExternalId", "External ID", 255),
        boolean("IsArchived", "Archived").read_only(),
    ];
    object("Product2", "Product", "Products", "01t", Owner::None, f)
}

fn pricebook2() -> ObjectDef {
    let f = vec![
        string("Name", "Price Book Name", 255)
            .not_null()
            .name_field(),
        boolean("IsActive", "Active"),
        boolean("IsArchived", "Is Archived").read_only(),
        string("Description", "Description", 255),
        boolean("IsStandard", "Is Standard Price Book").read_only(),
    ];
    object(
        "Pricebook2",
        "Price Book",
        "Price Books",
        "01s",
        Owner::None,
        f,
    )
}

fn pricebook_entry() -> ObjectDef {
    let f = vec![
        string("Name", "Product Name", 255).read_only().name_field(),
        reference(
            "Pricebook2Id",
            "Price Book ID",
            &["Pricebook2"],
            "Pricebook2",
        )
        .not_null()
        .create_only(),
        reference("Product2Id", "Product ID", &["Product2"], "Product2")
            .not_null()
            .create_only(),
        currency("UnitPrice", "List Price").not_null(),
        boolean("IsActive", "Active"),
        boolean("UseStandardPrice", "Use Standard Price"),
        string("ProductCode", "Product Code", 255).read_only(),
        boolean("IsArchived", "Archived").read_only(),
    ];
    object(
        "PricebookEntry",
        "Price Book Entry",
        "Price Book Entries",
        "01u",
        Owner::None,
        f,
    )
}

fn opportunity_line_item() -> ObjectDef {
    let f = vec![
        reference(
            "OpportunityId",
            "Opportunity ID",
            &["Opportunity"],
            "Opportunity",
        )
        .not_null()
        .create_only(),
        int("SortOrder", "Sort Order", 9),
        reference(
            "PricebookEntryId",
            "Price Book Entry ID",
            &["PricebookEntry"],
            "PricebookEntry",
        )
        .create_only(),
        reference("Product2Id", "Product ID", &["Product2"], "Product2").create_only(),
        string("ProductCode", "Product Code", 255).read_only(),
        string("Name", "Opportunity Product Name", 376)
            .read_only()
            .name_field(),
        number("Quantity", "Quantity", FieldType::Double, 12, 2).not_null(),
        currency("TotalPrice", "Total Price"),
        currency("UnitPrice", "Sales Price"),
        currency("ListPrice", "List Price").read_only(),
        date("ServiceDate", "Date"),
        string("Description", "Line Description", 255),
        currency("Subtotal", "Subtotal").calculated(),
        number("Discount", "Discount", FieldType::Percent, 5, 2),
    ];
    object(
        "OpportunityLineItem",
        "Opportunity Product",
        "Opportunity Product",
        "00k",
        Owner::None,
        f,
    )
}

fn campaign() -> ObjectDef {
    let f = vec![
        string("Name", "Name", 80).not_null().name_field(),
        reference("ParentId", "Parent Campaign ID", &["Campaign"], "Parent"),
        picklist(
            "Type",
            "Type",
            &[
                "Conference",
                "Webinar",
                "Trade Show",
                "Public Relations",
                "Partners",
                "Referral Program",
                "Advertisement",
                "Banner Ads",
                "Direct Mail",
                "Email",
                "Telemarketing",
                "Other",
            ],
        ),
        picklist(
            "Status",
            "Status",
            &["Planned", "In Progress", "Completed", "Aborted"],
        ),
        date("StartDate", "Start Date"),
        date("EndDate", "End Date"),
        currency("ExpectedRevenue", "Expected Revenue in Campaign"),
        currency("BudgetedCost", "Budgeted Cost in Campaign"),
        currency("ActualCost", "Actual Cost in Campaign"),
        number(
            "ExpectedResponse",
            "Expected Response (%)",
            FieldType::Percent,
            10,
            2,
        ),
        number(
            "NumberSent",
            "Num Sent in Campaign",
            FieldType::Double,
            18,
            0,
        ),
        boolean("IsActive", "Active"),
        textarea("Description", "Description", 32000),
        int("NumberOfLeads", "Leads in Campaign", 9).read_only(),
        int("NumberOfContacts", "Contacts in Campaign", 9).read_only(),
        int("NumberOfResponses", "Responses in Campaign", 9).read_only(),
        int("NumberOfOpportunities", "Opportunities in Campaign", 9).read_only(),
        currency("AmountAllOpportunities", "Value Opportunities in Campaign").read_only(),
        date("LastActivityDate", "Last Activity").read_only(),
    ];
    object("Campaign", "Campaign", "Campaigns", "701", Owner::User, f)
}

fn campaign_member() -> ObjectDef {
    let f = vec![
        reference("CampaignId", "Campaign ID", &["Campaign"], "Campaign")
            .not_null()
            .create_only(),
        reference("LeadId", "Lead ID", &["Lead"], "Lead").create_only(),
        reference("ContactId", "Contact ID", &["Contact"], "Contact").create_only(),
        with_default(picklist("Status", "Status", &["Sent", "Responded"]), "Sent"),
        boolean("HasResponded", "Responded").read_only(),
        date("FirstRespondedDate", "First Responded Date").read_only(),
        reference(
            "LeadOrContactId",
            "Lead or Contact ID",
            &["Contact", "Lead"],
            "LeadOrContact",
        )
        .read_only(),
        string("Name", "Name", 121).read_only().name_field(),
        string("FirstName", "First Name", 40).read_only(),
        string("LastName", "Last Name", 80).read_only(),
        string("Title", "Title", 128).read_only(),
        email("Email", "Email").read_only(),
        phone("Phone", "Phone").read_only(),
        string("CompanyOrAccount", "Company (Account)", 255).read_only(),
        string("Type", "Type", 40).read_only(),
    ];
    object(
        "CampaignMember",
        "Campaign Member",
        "Campaign Members",
        "00v",
        Owner::None,
        f,
    )
}

/// The standard objects only, in a stable order (`ContentNote` after `ContentDocument`, so
/// that the shared prefix `069` names `ContentNote`).
pub fn standard_objects() -> Vec<ObjectDef> {
    vec![
        account(),
        contact(),
        lead(),
        opportunity(),
        case(),
        task(),
        event(),
        content_document(),
        content_version(),
        content_note(),
        content_document_link(),
        note(),
        knowledge_article(),
        knowledge_article_version(),
        knowledge_kav(),
        user(),
        profile(),
        group(),
        user_role(),
        record_type(),
        organization(),
        product2(),
        pricebook2(),
        pricebook_entry(),
        opportunity_line_item(),
        campaign(),
        campaign_member(),
    ]
}

/// The standard schema plus the custom schema from `file` (or the built-in demo schema).
///
/// # Errors
/// [`crate::Error::Schema`] when the file cannot be read or is invalid.
pub fn schema_with(file: Option<&Path>) -> Result<Schema> {
    let mut objects = standard_objects();
    super::custom::extend(&mut objects, file)?;
    Ok(Schema::new(objects))
}

/// The relationship name a parent uses for a standard child lookup, such as `Contacts` for
/// `Contact.AccountId`; `None` where the real org has no name (audit and owner lookups).
pub fn child_relationship_name(child: &str, field: &str) -> Option<String> {
    let name = match (child, field) {
        ("Contact", "AccountId") => "Contacts",
        ("Opportunity", "AccountId" | "CampaignId" | "Pricebook2Id") => "Opportunities",
        ("Case", "AccountId" | "ContactId") => "Cases",
        ("Case", "ParentId") => "Cases",
        ("Account", "ParentId") => "ChildAccounts",
        ("Task", "WhatId" | "WhoId") => "Tasks",
        ("Event", "WhatId" | "WhoId") => "Events",
        ("OpportunityLineItem", "OpportunityId" | "PricebookEntryId") => "OpportunityLineItems",
        ("CampaignMember", "CampaignId" | "ContactId" | "LeadId") => "CampaignMembers",
        ("PricebookEntry", "Pricebook2Id" | "Product2Id") => "PricebookEntries",
        ("Note", "ParentId") => "Notes",
        ("ContentDocumentLink", "LinkedEntityId" | "ContentDocumentId") => "ContentDocumentLinks",
        ("ContentVersion", "ContentDocumentId") => "ContentVersions",
        ("Campaign", "ParentId") => "ChildCampaigns",
        ("User", "ProfileId" | "UserRoleId") => "Users",
        ("User", "ManagerId") => "ManagedUsers",
        ("KnowledgeArticleVersion", "KnowledgeArticleId") => "Versions",
        _ => return None,
    };
    Some(name.to_owned())
}

/// Whether deleting the parent deletes the children through this standard lookup (master
/// detail relationships and activities).
pub fn cascade_delete(child: &str, field: &str) -> bool {
    matches!(
        (child, field),
        ("OpportunityLineItem", "OpportunityId")
            | ("CampaignMember", "CampaignId" | "ContactId" | "LeadId")
            | (
                "ContentDocumentLink",
                "ContentDocumentId" | "LinkedEntityId"
            )
            | ("ContentVersion", "ContentDocumentId")
            | ("PricebookEntry", "Pricebook2Id" | "Product2Id")
            | ("Task" | "Event", "WhatId" | "WhoId")
            | ("Note", "ParentId")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        Schema::new(standard_objects())
    }

    #[test]
    fn key_prefixes_are_the_real_ones() {
        let s = schema();
        for (object, prefix) in [
            ("Account", "001"),
            ("Contact", "003"),
            ("Lead", "00Q"),
            ("Opportunity", "006"),
            ("Case", "500"),
            ("Task", "00T"),
            ("Event", "00U"),
            ("User", "005"),
            ("Group", "00G"),
            ("Campaign", "701"),
            ("CampaignMember", "00v"),
            ("UserRole", "00E"),
            ("Profile", "00e"),
            ("RecordType", "012"),
            ("Organization", "00D"),
            ("Note", "002"),
            ("Product2", "01t"),
            ("Pricebook2", "01s"),
            ("PricebookEntry", "01u"),
            ("OpportunityLineItem", "00k"),
            ("ContentVersion", "068"),
            ("ContentDocument", "069"),
            ("ContentNote", "069"),
            ("ContentDocumentLink", "06A"),
            ("KnowledgeArticleVersion", "ka0"),
        ] {
            let o = s
                .object(object)
                .unwrap_or_else(|| panic!("{object} missing"));
            assert_eq!(o.key_prefix.as_str(), prefix, "{object}");
        }
    }

    #[test]
    fn prefix_lookup_finds_the_object() {
        let s = schema();
        let p = |x: &str| callforce_types::KeyPrefix::new(x).expect("prefix");
        assert_eq!(
            s.object_by_prefix(p("003")).map(|o| o.name.as_str()),
            Some("Contact")
        );
        assert_eq!(
            s.object_by_prefix(p("069")).map(|o| o.name.as_str()),
            Some("ContentNote")
        );
        assert_eq!(
            s.object_by_prefix(p("ka0")).map(|o| o.name.as_str()),
            Some("KnowledgeArticleVersion")
        );
    }

    #[test]
    fn prefixes_are_unique_but_for_the_content_note_view() {
        let mut seen = std::collections::HashMap::new();
        for o in standard_objects() {
            if let Some(prev) = seen.insert(o.key_prefix, o.name.clone()) {
                assert_eq!(
                    (prev.as_str(), o.name.as_str()),
                    ("ContentDocument", "ContentNote")
                );
            }
        }
    }

    fn required(s: &Schema, object: &str) -> Vec<String> {
        let mut v: Vec<String> = s
            .object(object)
            .expect("object")
            .fields
            .iter()
            .filter(|f| f.required())
            .map(|f| f.name.clone())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn required_fields_match_a_real_org() {
        let s = schema();
        let cases: &[(&str, &[&str])] = &[
            ("Account", &["Name"]),
            ("Contact", &["LastName"]),
            ("Lead", &["Company", "LastName"]),
            ("Opportunity", &["CloseDate", "Name", "StageName"]),
            ("Case", &[]),
            ("Task", &[]),
            ("Event", &[]),
            ("ContentNote", &["Title"]),
            (
                "ContentDocumentLink",
                &["ContentDocumentId", "LinkedEntityId"],
            ),
            ("Note", &["ParentId", "Title"]),
            ("Product2", &["Name"]),
            ("Campaign", &["Name"]),
            ("CampaignMember", &["CampaignId"]),
            (
                "PricebookEntry",
                &["Pricebook2Id", "Product2Id", "UnitPrice"],
            ),
            ("OpportunityLineItem", &["OpportunityId", "Quantity"]),
            (
                "User",
                &["Alias", "Email", "LastName", "ProfileId", "Username"],
            ),
        ];
        for (object, want) in cases {
            assert_eq!(required(&s, object), *want, "{object}");
        }
    }

    #[test]
    fn restricted_picklists() {
        let s = schema();
        for (object, field, restricted) in [
            ("Opportunity", "StageName", false),
            ("Opportunity", "ForecastCategoryName", true),
            ("Lead", "Status", false),
            ("Lead", "LeadSource", true),
            ("Case", "Status", false),
            ("Case", "Priority", false),
            ("Task", "CallType", true),
            ("Task", "TaskSubtype", true),
            ("ContentDocumentLink", "ShareType", true),
            ("Group", "Type", true),
            ("KnowledgeArticleVersion", "PublishStatus", true),
        ] {
            let f = s
                .object(object)
                .and_then(|o| o.field(field))
                .expect("field");
            assert_eq!(f.restricted_picklist, restricted, "{object}.{field}");
        }
    }

    #[test]
    fn picklist_defaults() {
        let s = schema();
        for (object, field, default) in [
            ("Lead", "Status", "Open - Not Contacted"),
            ("Case", "Status", "New"),
            ("Case", "Priority", "Medium"),
            ("Task", "Status", "Not Started"),
            ("Task", "Priority", "Normal"),
            ("Event", "ShowAs", "Busy"),
        ] {
            let f = s
                .object(object)
                .and_then(|o| o.field(field))
                .expect("field");
            let d: Vec<_> = f.picklist.iter().filter(|p| p.default).collect();
            assert_eq!(d.len(), 1, "{object}.{field}");
            assert_eq!(d[0].value, default, "{object}.{field}");
            assert_eq!(f.default_value, Some(json!(default)), "{object}.{field}");
        }
    }

    #[test]
    fn child_relationship_names() {
        let s = schema();
        for (parent, rel, child, field) in [
            ("Account", "Contacts", "Contact", "AccountId"),
            ("Account", "Opportunities", "Opportunity", "AccountId"),
            ("Account", "Cases", "Case", "AccountId"),
            ("Account", "ChildAccounts", "Account", "ParentId"),
            ("Account", "Tasks", "Task", "WhatId"),
            ("Account", "Events", "Event", "WhatId"),
            ("Account", "Notes", "Note", "ParentId"),
            (
                "Account",
                "ContentDocumentLinks",
                "ContentDocumentLink",
                "LinkedEntityId",
            ),
            ("Contact", "Cases", "Case", "ContactId"),
            ("Contact", "Tasks", "Task", "WhoId"),
            ("Contact", "CampaignMembers", "CampaignMember", "ContactId"),
            ("Lead", "Tasks", "Task", "WhoId"),
            ("Case", "Tasks", "Task", "WhatId"),
            (
                "Opportunity",
                "OpportunityLineItems",
                "OpportunityLineItem",
                "OpportunityId",
            ),
            (
                "Campaign",
                "CampaignMembers",
                "CampaignMember",
                "CampaignId",
            ),
            (
                "Pricebook2",
                "PricebookEntries",
                "PricebookEntry",
                "Pricebook2Id",
            ),
            (
                "Product2",
                "PricebookEntries",
                "PricebookEntry",
                "Product2Id",
            ),
        ] {
            let c = s
                .object(parent)
                .and_then(|o| o.child_relationship(rel))
                .unwrap_or_else(|| panic!("{parent}.{rel} missing"));
            assert_eq!(
                (c.child_object.as_str(), c.field.as_str()),
                (child, field),
                "{parent}.{rel}"
            );
        }
        // Audit lookups have no relationship name.
        let user = s.object("User").expect("User");
        assert!(
            user.child_relationships
                .iter()
                .any(|c| c.field == "CreatedById" && c.relationship_name.is_none())
        );
    }

    #[test]
    fn every_object_has_the_system_fields() {
        for o in standard_objects() {
            for f in [
                "Id",
                "IsDeleted",
                "CreatedDate",
                "CreatedById",
                "LastModifiedDate",
                "LastModifiedById",
                "SystemModstamp",
            ] {
                assert!(o.field(f).is_some(), "{}.{f}", o.name);
            }
            assert_eq!(o.fields[0].name, "Id", "{}", o.name);
            let created_by = o.field("CreatedById").expect("CreatedById");
            assert_eq!(created_by.relationship_name.as_deref(), Some("CreatedBy"));
        }
    }

    #[test]
    fn owners_are_polymorphic_where_real() {
        let s = schema();
        let owner = |o: &str| {
            s.object(o)
                .and_then(|o| o.field("OwnerId"))
                .map(|f| f.reference_to.clone())
        };
        assert_eq!(
            owner("Lead"),
            Some(vec!["Group".to_owned(), "User".to_owned()])
        );
        assert_eq!(
            owner("Case"),
            Some(vec!["Group".to_owned(), "User".to_owned()])
        );
        assert_eq!(owner("Contact"), Some(vec!["User".to_owned()]));
        assert_eq!(owner("PricebookEntry"), None);
        let what = s
            .object("Task")
            .and_then(|o| o.field("WhatId"))
            .expect("WhatId");
        assert!(what.polymorphic());
        assert_eq!(what.relationship_name.as_deref(), Some("What"));
    }

    #[test]
    fn every_reference_points_at_a_defined_object() {
        let s = schema();
        for o in s.objects() {
            for f in &o.fields {
                for t in &f.reference_to {
                    assert!(s.object(t).is_some(), "{}.{} -> {t}", o.name, f.name);
                }
                assert_eq!(
                    f.ty == FieldType::Reference,
                    f.relationship_name.is_some(),
                    "{}.{}",
                    o.name,
                    f.name
                );
            }
        }
    }

    #[test]
    fn compound_fields() {
        let s = schema();
        let c = s.object("Contact").expect("Contact");
        assert_eq!(
            c.field("MailingCity")
                .and_then(|f| f.compound_field_name.as_deref()),
            Some("MailingAddress")
        );
        assert_eq!(
            c.field("MailingAddress").map(|f| f.ty),
            Some(FieldType::Address)
        );
        assert_eq!(
            c.field("FirstName")
                .and_then(|f| f.compound_field_name.as_deref()),
            Some("Name")
        );
        let name = c.field("Name").expect("Name");
        assert!(name.name_field && !name.createable && !name.nillable);
        let a = s.object("Account").expect("Account");
        assert!(a.field("BillingAddress").is_some() && a.field("ShippingPostalCode").is_some());
        assert!(s.object("Lead").and_then(|l| l.field("Address")).is_some());
    }

    #[test]
    fn stages_imply_probability_and_forecast() {
        let cases = [
            ("Prospecting", 10, "Pipeline", false, false),
            ("Needs Analysis", 20, "Pipeline", false, false),
            ("Negotiation/Review", 90, "Pipeline", false, false),
            ("closed won", 100, "Closed", true, true),
            ("Closed Lost", 0, "Omitted", true, false),
        ];
        for (stage, p, fc, closed, won) in cases {
            let s = stage_defaults(stage).expect(stage);
            assert_eq!(
                (s.probability, s.forecast_category_name, s.closed, s.won),
                (p, fc, closed, won),
                "{stage}"
            );
        }
        assert_eq!(stage_defaults("In Progress"), None);
        let schema = schema();
        let stage = schema
            .object("Opportunity")
            .and_then(|o| o.field("StageName"))
            .expect("StageName");
        assert_eq!(stage.picklist.len(), 10);
        assert!(
            STAGES
                .iter()
                .all(|(s, _)| stage.picklist.iter().any(|p| p.value == *s))
        );
    }

    #[test]
    fn closed_statuses() {
        assert!(is_closed_status("Case", "Closed"));
        assert!(!is_closed_status("Case", "Escalated"));
        assert!(is_closed_status("task", "completed"));
        assert!(!is_closed_status("Task", "Deferred"));
        assert!(is_closed_status("Lead", "Closed - Converted"));
        assert!(!is_closed_status("Opportunity", "Closed"));
    }
}
