//! Hostile strings, on every backend: text that looks like SQL, search-engine or JSON-path
//! syntax, quotes and backslashes, `%` and `_`, our own tag prefixes, odd unicode and long
//! strings, stored in standard fields, tags, custom values and custom-field *keys*, then used
//! as filter operands and search terms. Every result equals the reference semantics
//! ([`Filter::matches`], [`Query::apply`], [`crate::search`]). Text with a NUL character is
//! refused at the service layer, at write and in filters, naming the field.

use rust_decimal::Decimal;

use super::*;
use crate::query::Field;

/// A deterministic, incompressible-looking string of `n` ASCII letters and digits.
pub fn noise(n: usize, seed: u64) -> String {
    const ABC: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ABC[(x >> 33) as usize % ABC.len()] as char
        })
        .collect()
}

/// The hostile strings: SQL-injection classics, LIKE wildcards, placeholder look-alikes,
/// JSON-path and search-engine syntax, our own tag prefixes, odd unicode (confusables,
/// superscripts, direction marks, emoji), blank and long strings. No NUL: text with NUL is
/// refused before it reaches a store (see [`hostile_input_is_refused_naming_the_field`]).
pub fn hostile_corpus() -> Vec<String> {
    let mut c: Vec<String> = [
        "'; DROP TABLE contacts; --",
        "\" OR 1=1 --",
        "\\' OR \\'1\\'=\\'1",
        "' OR '1'='1",
        "' OR 1=1; DELETE FROM contacts; --",
        "%",
        "_",
        "%_%",
        "a%",
        "\\",
        "\\%",
        "' || (SELECT data FROM contacts) || '",
        "'); DROP TABLE crm_events; --",
        "$1",
        "?",
        "?1",
        ":name",
        "@p1",
        "$$",
        "$tag$ x $tag$",
        "{}",
        "'$.x'",
        "$.x",
        "$.\"x\"",
        "$[0]",
        "\") --",
        "/* c */",
        "--",
        ";",
        "`tick`",
        "[bracket]",
        "Ωmega",
        "ΩMEGA",
        "𝔘nicode",
        "😀🎉",
        "ß",
        "SS",
        "straße",
        "STRASSE",
        "e\u{301}",
        "é",
        "line\nbreak",
        "tab\there",
        "\r\n",
        "\u{1}\u{7f}",
        "\\u0000",
        "{\"t\":\"x\"}",
        "t:abc",
        "t:",
        "n:2500",
        "m:USD:2004",
        "[]",
        "[\"t:x\"]",
        "null",
        "NULL",
        "true",
        "0",
        "",
        " ",
        "  padded  ",
        "Ada",
        "ada",
        "ADA",
        "abc",
        "\\' OR 1=1--",
        "x \\' OR 1=1-- y",
        "\\' OR 1=1--\\' OR 1=1--",
        "a b c",
        " lead",
        "trail ",
        "it's \\'quoted\\'",
        "²³",
        "x²",
        "H₂O",
        "\u{200F}rtl\u{200E}mark",
        "\u{202E}evil",
        "Ρaypal",
        "pаypal",
        "ﬁle",
        "ＡＢＣ",
        "\u{FEFF}bom",
        "a  b",
        "\"exact phrase\"",
        "NEAR(a b)",
        "a* OR b",
        "-minus",
        "^caret",
        "col:val",
        "a & b | !c",
        "👩‍👩‍👧",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    c.push("x".repeat(5_000));
    // Not longer: PostgreSQL refuses a name of ~2.7 KB of incompressible text (the btree
    // limit of the `(family_name, given_name)` index); service validation caps names at 200
    // characters, so only raw store writes can get there.
    c.push(noise(1000, 7));
    c.push("y".repeat(10_000));
    c
}

/// Custom-field keys that are not plain identifiers (plus two that are).
pub fn hostile_keys() -> Vec<String> {
    [
        "note",
        "a'b",
        "x\"y",
        "$.z",
        "k; DROP TABLE contacts; --",
        "a.b",
        "a[0]",
        "*",
        " ",
        "",
        "ключ",
        "\\",
        "'",
        "$",
        "') OR ('1'='1",
        "custom",
        "Note",
        "a\\b",
        "\\n",
        "a\\\\b",
        "tab\there",
        "new\nline",
        "é",
        "😀",
        "a b",
        "$.z[0]",
        "1",
        "-",
        "'; --",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The contacts of the hostile cases: one per corpus string, plus a few with non-text custom
/// values.
pub fn hostile_records(t: TenantId, corpus: &[String], keys: &[String]) -> Vec<Record> {
    let n = corpus.len();
    let mut out = Vec::new();
    for (i, s) in corpus.iter().enumerate() {
        let mut c = contact(t, s, &corpus[(i + 7) % n]);
        c.created_at = at(i as i64);
        c.updated_at = c.created_at;
        c.tags = vec![s.clone(), corpus[(i + 3) % n].clone()];
        if i % 3 == 0 {
            c.job_title = Some(corpus[(i + 11) % n].clone());
        }
        c.custom.insert("note".into(), Value::Text(s.clone()));
        c.custom.insert(
            "labels".into(),
            Value::List(vec![Value::Text(s.clone()), Value::Text(corpus[(i + 5) % n].clone())]),
        );
        // Each hostile key holds a value in some records and is missing in others.
        for (j, k) in keys.iter().enumerate() {
            if (i + j) % 3 != 0 {
                c.custom.insert(k.clone(), Value::Text(corpus[(i + j) % n].clone()));
            }
        }
        out.push(c.into_record());
    }
    // Non-text values under text-ish keys: the tagged encodings must not leak into text matches.
    let mut odd = contact(t, "Odd", "Values");
    odd.custom.insert("note".into(), Value::Int(2500));
    odd.custom.insert("a'b".into(), Value::Decimal(Decimal::new(2004, 2)));
    odd.custom.insert("$.z".into(), Value::Bool(true));
    odd.custom.insert("labels".into(), Value::List(vec![]));
    out.push(odd.into_record());
    let mut money = contact(t, "Money", "Values");
    money.custom.insert("note".into(), Value::Money(Money::new(Decimal::new(2004, 2), Currency::USD)));
    money.tags = Vec::new();
    out.push(money.into_record());
    out.push(contact(t, "Plain", "Nothing").into_record());
    out
}

/// Every filter of the hostile cases, with `corpus` strings as operands: all of them on the standard
/// text fields, tags and the `note`/`labels` custom fields; every fourth on the other keys
/// (which are there for the key handling, not the operands).
pub fn hostile_filters(corpus: &[String], keys: &[String]) -> Vec<Filter> {
    let mut full: Vec<Field> =
        ["given_name", "family_name", "job_title"].iter().map(|f| Field::Std(f.to_string())).collect();
    full.extend(["note", "labels"].map(|k| Field::Custom(k.into())));
    let sampled: Vec<Field> =
        keys.iter().filter(|k| !matches!(k.as_str(), "note" | "labels")).map(|k| Field::Custom(k.clone())).collect();
    let mut out = Vec::new();
    for f in full.iter().chain(&sampled) {
        out.push(Filter::IsNull { field: f.clone() });
    }
    for (i, q) in corpus.iter().enumerate() {
        let other = &corpus[(i + 1) % corpus.len()];
        let tq = Value::Text(q.clone());
        let fields = full.iter().chain(sampled.iter().filter(|_| i % 4 == 0));
        for f in fields {
            out.push(Filter::eq(f.clone(), tq.clone()));
            out.push(Filter::ne(f.clone(), tq.clone()));
            out.push(Filter::contains(f.clone(), tq.clone()));
            out.push(Filter::starts_with(f.clone(), q.clone()));
            out.push(Filter::is_in(f.clone(), [q.clone(), other.clone()]));
        }
        // Tags are a standard list field: contains and in only.
        out.push(Filter::contains("tags", tq.clone()));
        out.push(Filter::is_in("tags", [q.clone()]));
        out.push(Filter::is_in("tags", [q.clone(), other.clone()]).not());
    }
    // Non-text operands against the records holding numbers, money and booleans: their tagged
    // encodings (`n:…`, `m:USD:…`, `b:1`) must behave as the values, not as the text `n:2500`.
    let typed = [
        Value::Int(2500),
        Value::Decimal(Decimal::new(250_000, 2)),
        Value::Decimal(Decimal::new(2004, 2)),
        Value::Money(Money::new(Decimal::new(2004, 2), Currency::USD)),
        Value::Bool(true),
    ];
    for k in ["note", "a'b", "$.z", "labels"] {
        let f = Field::Custom(k.into());
        for v in &typed {
            out.push(Filter::eq(f.clone(), v.clone()));
            out.push(Filter::ne(f.clone(), v.clone()));
            out.push(Filter::gte(f.clone(), v.clone()));
            out.push(Filter::is_in(f.clone(), [v.clone()]));
            out.push(Filter::is_in(f.clone(), [v.clone(), Value::Text("n:2500".into())]));
            // `contains` with a non-text operand is only true on lists (validation refuses it
            // elsewhere); on a scalar holding an equal value it must still be false.
            out.push(Filter::contains(f.clone(), v.clone()));
        }
    }
    out
}

/// Stores the hostile records; every filter of [`hostile_filters`] returns (and counts) what
/// the reference semantics return; every corpus string as a search finds what the reference
/// search finds. Mismatches are listed together.
pub async fn hostile_strings_filter_and_search_as_the_reference(store: Arc<dyn Store>) {
    let t = tenant();
    let corpus = hostile_corpus();
    let keys = hostile_keys();
    let recs = hostile_records(t, &corpus, &keys);
    put_all(&store, t, recs.clone()).await;

    let all = Query::new(Filter::All).limit(1000);
    let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
    let page = tx.query(EntityKind::Contact, &all).await.expect("read everything back");
    assert_eq!(page.items, all.apply(&recs).expect("reference").items, "records do not round-trip exactly");

    let filters = hostile_filters(&corpus, &keys);
    let mut mismatches: Vec<String> = Vec::new();
    let names = |rs: &[Record]| -> Vec<String> {
        rs.iter()
            .map(|r| match r {
                Record::Contact(c) => format!("{:?}", c.given_name.chars().take(40).collect::<String>()),
                other => other.id().to_string(),
            })
            .collect()
    };
    for f in &filters {
        let q = Query::new(f.clone()).limit(1000);
        let want = q.apply(&recs).expect("reference").items;
        match tx.query(EntityKind::Contact, &q).await {
            Ok(p) if p.items == want => {}
            Ok(p) => mismatches.push(format!(
                "{f:?}\n    store:     {:?}\n    reference: {:?}",
                names(&p.items),
                names(&want)
            )),
            Err(e) => {
                mismatches.push(format!("{f:?}: query failed: {e}"));
                tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
                continue;
            }
        }
        match tx.count(EntityKind::Contact, f).await {
            Ok(n) if n == want.len() as u64 => {}
            Ok(n) => mismatches.push(format!("{f:?}: count {n}, reference {}", want.len())),
            Err(e) => {
                mismatches.push(format!("{f:?}: count failed: {e}"));
                tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
            }
        }
    }
    let mut searches = 0;
    for s in &corpus {
        let terms = crate::search::terms(s);
        if terms.is_empty() || terms.iter().any(|t| t.chars().count() > crate::search::MAX_TERM_CHARS) {
            continue;
        }
        searches += 1;
        let want = expected_hits(&recs, s);
        match tx.search(&crate::search::every(&[EntityKind::Contact]), &terms, crate::query::MAX_PAGE_SIZE).await {
            Ok(hits) => {
                let got: BTreeSet<Uuid> = hits.iter().map(Record::id).collect();
                if got != want {
                    mismatches.push(format!(
                        "search {s:?} (terms {terms:?}): {} hits, reference {}",
                        got.len(),
                        want.len()
                    ));
                }
            }
            Err(e) => {
                mismatches.push(format!("search {s:?}: failed: {e}"));
                tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
            }
        }
    }
    assert!(searches > 50, "the corpus searches for something");
    let shown: Vec<&str> = mismatches.iter().take(40).map(String::as_str).collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} filters and searches disagree with the reference; first ones:\n{}",
        mismatches.len(),
        filters.len() + searches,
        shown.join("\n")
    );
}

/// Text with a NUL character is refused with a validation error naming the field (code
/// `InvalidFormat`), in every text field of a new record or an edit (nothing is written) and
/// in every filter operand; a search term longer than [`MAX_TERM_CHARS`](crate::search::MAX_TERM_CHARS)
/// is refused rather than cut; an indexed text value over [`MAX_INDEXED_TEXT_BYTES`] is refused
/// (one at the limit is stored, also on PostgreSQL); whatever the backend.
pub async fn hostile_input_is_refused_naming_the_field(store: Arc<dyn Store>) {
    use crate::service::{CrmBuilder, NewContact};
    let crm = CrmBuilder::from_arc(store).build().expect("crm");
    let cx = crm.as_actor(&crate::actor::Actor::system(tenant()));
    let note = FieldDefinition::new(EntityKind::Contact, "note", "Note", FieldType::Text);
    cx.custom_fields().define(note).await.expect("define note");
    let code = FieldDefinition::new(EntityKind::Contact, "code", "Code", FieldType::Text).indexed();
    cx.custom_fields().define(code).await.expect("define code");
    let refused = |e: Error, field: &str| {
        let errs = e.field_errors();
        assert!(errs.iter().any(|x| x.field == field && x.code == FieldErrorCode::InvalidFormat), "{field}: {errs:?}");
    };
    let writes = [
        (NewContact::new("A\0da", "Lovelace"), "given_name"),
        (NewContact::new("Ada", "\0"), "family_name"),
        (NewContact::new("Ada", "Lovelace").job_title("CTO\0"), "job_title"),
        (NewContact::new("Ada", "Lovelace").tag("ok").tag("x\0y"), "tags[1]"),
        (NewContact::new("Ada", "Lovelace").custom("note", "a\0b"), "custom.note"),
    ];
    for (input, field) in writes {
        refused(cx.contacts().create(input).await.expect_err(field), field);
    }
    assert_eq!(cx.contacts().count(&Filter::All).await.expect("count"), 0, "nothing was written");
    let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace")).await.expect("create");
    let mut edit = ada.clone();
    edit.family_notes = Some("two\0cats".into());
    refused(cx.contacts().update(edit).await.expect_err("edit with NUL"), "family_notes");
    assert_eq!(cx.contacts().get(ada.id).await.expect("get"), ada, "the refused edit changed nothing");
    let filters = [
        (Filter::contains("given_name", "a\0b"), "filter.given_name"),
        (Filter::starts_with("family_name", "smith\0"), "filter.family_name"),
        (Filter::eq("custom.note", "\0"), "filter.custom.note"),
        (Filter::is_in("given_name", ["Ada", "\0"]), "filter.given_name"),
        (Filter::contains("tags", "\0"), "filter.tags"),
        (Filter::eq("job_title", "x").and(Filter::ne("job_title", "\0")), "filter.job_title"),
    ];
    for (f, field) in filters {
        refused(cx.contacts().list(&Query::new(f)).await.expect_err(field), field);
    }
    // An indexed text value is kept to what every backend's index holds (incompressible text).
    let most = noise(MAX_INDEXED_TEXT_BYTES, 3);
    let kept = cx.contacts().create(NewContact::new("Long", "Code").custom("code", most.clone())).await;
    assert_eq!(kept.expect("at the limit").custom.get("code"), Some(&Value::Text(most.clone())));
    let over = NewContact::new("Longer", "Code").custom("code", format!("{most}z"));
    let err = cx.contacts().create(over).await.expect_err("over the limit");
    assert!(
        err.field_errors().iter().any(|e| e.field == "custom.code" && e.code == FieldErrorCode::OutOfRange),
        "{err:?}"
    );
    let long = "y".repeat(crate::search::MAX_TERM_CHARS + 1);
    let err = cx.search(&format!("ada {long}")).await.expect_err("an over-long term");
    assert!(matches!(err.field_errors(), [e] if e.field == "text" && e.code == FieldErrorCode::OutOfRange), "{err:?}");
    let at_limit = "y".repeat(crate::search::MAX_TERM_CHARS);
    assert!(cx.search(&at_limit).await.expect("a term at the limit").is_empty());
}
