//! A deliberately hostile plugin: a test fixture for the host's sandbox, never for production.
//!
//! It implements the `crm-plugin` world and misbehaves on request. The behaviour is chosen by
//! the record it is handed: its standard field `name` (a deal's, product's or company's name)
//! or `given_name` (a contact's), or else its own custom field `mode`. A mode may take a number after a colon (`huge-string:8`).
//! `validate`, `compute` and `on-event` all obey the mode; `describe` is always well-behaved.
//!
//! | mode | behaviour |
//! |---|---|
//! | `loop` | spins forever (fuel / epoch deadline) |
//! | `alloc` | allocates 1 MiB chunks until memory runs out (memory limit) |
//! | `recurse` | recurses without bound (stack limit) |
//! | `panic` | panics with [`PANIC_MESSAGE`] (trap; message via `host.log` and stderr) |
//! | `stderr` | writes [`STDERR_MESSAGE`] to stderr in `validate`, then behaves |
//! | `huge-string[:MiB]` | returns a string of that many MiB (default 48) in an error message, a text value or an `err` |
//! | `huge-list[:n]` | returns `n` errors / fields / actions (default 1,000,000) |
//! | `log-flood[:n]` | calls `host.log` `n` times with 1 KiB lines (default 100,000) |
//! | `read` | calls `host.get-related` without the `read-related` capability |
//! | `wrong-type` | returns a computed value of the wrong type; sets a field to the wrong type |
//! | `bad-money` | returns money with a malformed amount and currency |
//! | `foreign-field` | computes and sets fields it does not own (`listing_status`, `real_estate.listing_status`) |
//! | `set-computed` | asks the host to set its own computed field |
//! | `wrong-kind` | sets its deal field on a company |
//! | `core-names` | refuses the record, naming the standard and custom fields it was shown |
//! | anything else | behaves: no errors, `score` = length of the mode text (the name), no actions |

use std::hint::black_box;

use crm_plugin_sdk::{
    Action, Capability, Entity, EntityKind, EntityRef, ErrorCode, Event, EventKind, Field, FieldDef, FieldError, Host,
    Manifest, Money, Plugin, register_plugin,
};

/// The plugin id.
pub const ID: &str = "hostile";
/// The message of the `panic` mode.
pub const PANIC_MESSAGE: &str = "hostile plugin panicked on purpose";
/// What the `stderr` mode writes to stderr.
pub const STDERR_MESSAGE: &str = "hostile plugin wrote to stderr";
/// Default size of `huge-string`, in MiB.
pub const DEFAULT_HUGE_MIB: usize = 48;
/// Default length of `huge-list`.
pub const DEFAULT_HUGE_LEN: usize = 1_000_000;
/// Default number of `log-flood` lines.
pub const DEFAULT_LOG_LINES: usize = 100_000;

/// What the plugin does, parsed from the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Spin forever.
    Loop,
    /// Allocate until memory runs out.
    Alloc,
    /// Recurse without bound.
    Recurse,
    /// Panic.
    Panic,
    /// Write to stderr, then behave.
    Stderr,
    /// Return a string of this many MiB.
    HugeString(usize),
    /// Return a list of this many items.
    HugeList(usize),
    /// Log this many lines.
    LogFlood(usize),
    /// Read a record without the capability.
    Read,
    /// Return values of the wrong type.
    WrongType,
    /// Return malformed money.
    BadMoney,
    /// Touch fields of other plugins.
    ForeignField,
    /// Set its own computed field.
    SetComputed,
    /// Set a deal field on a company.
    WrongKind,
    /// Report the fields it was shown.
    CoreNames,
    /// Behave.
    Benign,
}

impl Mode {
    /// Parses `name` or `name:number`; unknown names are [`Mode::Benign`].
    pub fn parse(s: &str) -> Mode {
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n, a.trim().parse::<usize>().ok()),
            None => (s, None),
        };
        match name.trim() {
            "loop" => Mode::Loop,
            "alloc" => Mode::Alloc,
            "recurse" => Mode::Recurse,
            "panic" => Mode::Panic,
            "stderr" => Mode::Stderr,
            "huge-string" => Mode::HugeString(arg.unwrap_or(DEFAULT_HUGE_MIB)),
            "huge-list" => Mode::HugeList(arg.unwrap_or(DEFAULT_HUGE_LEN)),
            "log-flood" => Mode::LogFlood(arg.unwrap_or(DEFAULT_LOG_LINES)),
            "read" => Mode::Read,
            "wrong-type" => Mode::WrongType,
            "bad-money" => Mode::BadMoney,
            "foreign-field" => Mode::ForeignField,
            "set-computed" => Mode::SetComputed,
            "wrong-kind" => Mode::WrongKind,
            "core-names" => Mode::CoreNames,
            _ => Mode::Benign,
        }
    }

    /// The mode a record asks for: its `name` or `given_name`, else its own `mode` field.
    pub fn of(entity: &Entity) -> Mode {
        text(entity).map_or(Mode::Benign, Mode::parse)
    }
}

/// The text a record's mode is read from.
fn text(entity: &Entity) -> Option<&str> {
    entity.core_text("name").or_else(|| entity.core_text("given_name")).or_else(|| entity.custom_text("mode"))
}

/// The plugin.
#[derive(Clone, Copy, Debug, Default)]
pub struct Hostile;

impl Plugin for Hostile {
    fn describe(&self) -> Manifest {
        let fields = || {
            [
                FieldDef::text("mode").help("Selects the misbehaviour when the record has no name"),
                FieldDef::integer("score").computed(),
                FieldDef::money("total").computed(),
            ]
        };
        Manifest::builder(ID, "Hostile test fixture", env!("CARGO_PKG_VERSION"))
            .fields(EntityKind::Deal, fields())
            .fields(EntityKind::Product, fields())
            .fields(EntityKind::Contact, fields())
            .subscribe(EventKind::Created, [])
            .subscribe(EventKind::Updated, [])
            .subscribe(EventKind::DealStageChanged, [])
            .subscribe(EventKind::OrderPlaced, [])
            .subscribe(EventKind::Deleted, [])
            // The mode comes from the record's name (a company's drives `on-event` alone).
            .reads(EntityKind::Deal, ["name"])
            .reads(EntityKind::Product, ["name"])
            .reads(EntityKind::Company, ["name"])
            .reads(EntityKind::Contact, ["given_name"])
            // Deliberately no `read-related`: the `read` mode must be refused.
            .capability(Capability::Log)
            .build()
    }

    fn validate(&self, host: &dyn Host, entity: &Entity, _before: Option<&Entity>) -> Vec<FieldError> {
        let mode = Mode::of(entity);
        misbehave(host, mode);
        match mode {
            Mode::Stderr => {
                eprintln!("{STDERR_MESSAGE}");
                Vec::new()
            }
            Mode::HugeString(mib) => vec![FieldError::rule("mode", huge_string(mib))],
            Mode::HugeList(n) => (0..n).map(|i| FieldError::rule("mode", format!("error {i}"))).collect(),
            Mode::Read => match host.get_related(entity.kind, &entity.id) {
                Ok(_) => vec![FieldError::rule("", "get-related succeeded without the capability")],
                Err(e) => vec![FieldError::new("", ErrorCode::Rule, format!("read refused: {e}"))],
            },
            Mode::CoreNames => vec![FieldError::rule("", shown(entity))],
            _ => Vec::new(),
        }
    }

    fn compute(&self, host: &dyn Host, entity: &Entity) -> Vec<Field> {
        let mode = Mode::of(entity);
        misbehave(host, mode);
        match mode {
            Mode::HugeString(mib) => vec![Field::new("mode", huge_string(mib))],
            Mode::HugeList(n) => (0..n).map(|i| Field::new("score", i as i64)).collect(),
            Mode::WrongType => vec![Field::new("score", "not a number"), Field::new("total", 12)],
            Mode::BadMoney => {
                vec![Field::new("total", Money { amount: "1e3".into(), currency: "EURO".into() })]
            }
            Mode::ForeignField => vec![
                Field::new("listing_status", "sold"),
                Field::new("real_estate.listing_status", "sold"),
                Field::new("score", 1),
            ],
            Mode::Read => vec![Field::new("score", i64::from(host.get_related(entity.kind, &entity.id).is_ok()))],
            _ => {
                let len = text(entity).map_or(0, |n| n.chars().count());
                vec![Field::new("score", len as i64)]
            }
        }
    }

    fn on_event(&self, host: &dyn Host, event: &Event) -> Result<Vec<Action>, String> {
        let Some(entity) = event.entity() else {
            return Ok(Vec::new());
        };
        let mode = Mode::of(entity);
        misbehave(host, mode);
        let me = entity.reference();
        Ok(match mode {
            Mode::HugeString(mib) => return Err(huge_string(mib)),
            Mode::HugeList(n) => (0..n).map(|i| Action::add_tag(me.clone(), format!("t{i}"))).collect(),
            Mode::Read => return host.get_related(entity.kind, &entity.id).map(|_| Vec::new()),
            Mode::WrongType => vec![Action::set_field(me, "mode", 42)],
            Mode::BadMoney => {
                vec![Action::set_field(me, "total", Money { amount: "12,50".into(), currency: "€".into() })]
            }
            Mode::ForeignField => vec![
                Action::set_field(me.clone(), "listing_status", "sold"),
                Action::set_field(me.clone(), "real_estate.listing_status", "sold"),
                Action::set_field(me, "custom.mode", "x"),
            ],
            Mode::SetComputed => vec![Action::set_field(me, "score", 99)],
            Mode::WrongKind => {
                vec![Action::set_field(EntityRef::new(EntityKind::Company, entity.id.clone()), "mode", "x")]
            }
            _ => Vec::new(),
        })
    }
}

register_plugin!(Hostile);

/// The fields a record shows, e.g. `core [name] custom [mode]`.
pub fn shown(entity: &Entity) -> String {
    let names = |fields: &[Field]| fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ");
    format!("core [{}] custom [{}]", names(&entity.core), names(&entity.custom))
}

/// Does the modes that never return normally, and floods the log.
fn misbehave(host: &dyn Host, mode: Mode) {
    match mode {
        Mode::Loop => spin(),
        Mode::Alloc => exhaust_memory(),
        Mode::Recurse => {
            black_box(recurse(0));
        }
        Mode::Panic => panic!("{PANIC_MESSAGE}"),
        Mode::LogFlood(n) => {
            let line = "x".repeat(1024);
            for _ in 0..n {
                host.info(&line);
            }
        }
        _ => {}
    }
}

/// Never returns.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// Grows memory 1 MiB at a time until allocation fails (which aborts).
fn exhaust_memory() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; 1 << 20];
        chunk[0] = 1;
        hoard.push(black_box(chunk));
    }
}

/// Recurses until the stack overflows; the frame holds data so it cannot be optimised away.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    let frame = black_box([depth; 32]);
    recurse(depth + 1).wrapping_add(frame[depth as usize % 32])
}

/// A string of `mib` MiB.
fn huge_string(mib: usize) -> String {
    "x".repeat(mib.saturating_mul(1 << 20))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_plugin_sdk::FieldValue;
    use crm_plugin_sdk::testing::MockHost;

    fn deal(name: &str) -> Entity {
        Entity::new(EntityKind::Deal, "d1").with_core("name", name)
    }

    #[test]
    fn modes_parse_with_arguments() {
        assert_eq!(Mode::parse("loop"), Mode::Loop);
        assert_eq!(Mode::parse("huge-string"), Mode::HugeString(DEFAULT_HUGE_MIB));
        assert_eq!(Mode::parse("huge-string:2"), Mode::HugeString(2));
        assert_eq!(Mode::parse("huge-list:10"), Mode::HugeList(10));
        assert_eq!(Mode::parse("log-flood:x"), Mode::LogFlood(DEFAULT_LOG_LINES));
        assert_eq!(Mode::parse("Acme renewal"), Mode::Benign);
        let unnamed = Entity::new(EntityKind::Product, "p1").with_custom("mode", "panic");
        assert_eq!(Mode::of(&unnamed), Mode::Panic);
    }

    #[test]
    fn the_manifest_is_valid_and_asks_only_for_log() {
        let m = Hostile.describe();
        assert_eq!(m.problems(), Vec::<String>::new());
        assert_eq!(m.capabilities, vec![Capability::Log]);
    }

    #[test]
    fn benign_records_get_a_score() {
        let host = MockHost::new();
        assert_eq!(Hostile.validate(&host, &deal("Acme"), None), vec![]);
        assert_eq!(Hostile.compute(&host, &deal("Acme")), vec![Field::new("score", 4)]);
        assert_eq!(Hostile.on_event(&host, &Event::Created(deal("Acme"))), Ok(vec![]));
    }

    #[test]
    fn oversized_outputs_have_the_requested_size() {
        let host = MockHost::new();
        let errors = Hostile.validate(&host, &deal("huge-string:1"), None);
        assert_eq!(errors[0].message.len(), 1 << 20);
        assert_eq!(Hostile.validate(&host, &deal("huge-list:1000"), None).len(), 1000);
        assert_eq!(Hostile.compute(&host, &deal("huge-list:7")).len(), 7);
        let err = Hostile.on_event(&host, &Event::Created(deal("huge-string:1"))).unwrap_err();
        assert_eq!(err.len(), 1 << 20);
    }

    #[test]
    fn contract_violations_are_produced() {
        let host = MockHost::new();
        let wrong = Hostile.compute(&host, &deal("wrong-type"));
        assert_eq!(wrong[0], Field::new("score", FieldValue::Text("not a number".into())));
        let foreign = Hostile.compute(&host, &deal("foreign-field"));
        assert!(foreign.iter().any(|f| f.name == "real_estate.listing_status"));
        let actions = Hostile.on_event(&host, &Event::Created(deal("set-computed"))).unwrap();
        assert_eq!(actions, vec![Action::set_field(deal("x").reference(), "score", 99)]);
        let actions = Hostile.on_event(&host, &Event::Created(deal("wrong-kind"))).unwrap();
        let Action::SetField(s) = &actions[0] else { panic!("expected set-field") };
        assert_eq!(s.entity.kind, EntityKind::Company);
    }

    #[test]
    fn core_names_reports_what_the_record_shows() {
        let host = MockHost::new();
        let errors = Hostile.validate(&host, &deal("core-names").with_custom("mode", "x"), None);
        assert_eq!(errors, vec![FieldError::rule("", "core [name] custom [mode]")]);
    }

    #[test]
    fn reads_report_the_refusal() {
        let host = MockHost::new().deny_read_related();
        let errors = Hostile.validate(&host, &deal("read"), None);
        assert!(errors[0].message.contains("not granted"));
        assert!(Hostile.on_event(&host, &Event::Created(deal("read"))).is_err());
    }

    #[test]
    fn log_flood_logs_the_requested_number_of_lines() {
        let host = MockHost::new();
        Hostile.validate(&host, &deal("log-flood:25"), None);
        assert_eq!(host.logs().len(), 25);
    }

    #[test]
    #[should_panic(expected = "hostile plugin panicked on purpose")]
    fn panic_mode_panics() {
        Hostile.compute(&MockHost::new(), &deal("panic"));
    }
}
