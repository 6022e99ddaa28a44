//! Raw records for the conformance suite, built directly (no service rules involved).

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::entity::{EntityKind, EntityRef};
use crate::ids::*;
use crate::macros::new_record;
use crate::model::*;
use crate::money::{Currency, Money};
use crate::profile::*;
use crate::value::{CustomValues, Value};

/// A new record of `tenant` with a fresh id, created and updated at [`at(0)`](at).
macro_rules! fixture {
    ($tenant:expr, $ty:ident { $($fields:tt)* }) => {
        new_record!(<$ty as Entity>::Id::from(Uuid::now_v7()), $tenant, at(0), $ty { $($fields)* })
    };
}

/// Copies of fixtures of any kinds as stored records, in the order given.
macro_rules! records {
    ($($fixture:expr),* $(,)?) => {
        vec![$($crate::model::Entity::into_record($fixture.clone())),*]
    };
}
pub(crate) use records;

/// A fresh tenant.
pub fn tenant() -> TenantId {
    TenantId::from_uuid(Uuid::now_v7())
}

/// A fixed instant, `secs` seconds after 2026-01-01T00:00:00Z, with microseconds.
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_767_225_600 + secs, 123_456_000).single().expect("valid fixture")
}

/// A calendar date.
pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid fixture")
}

/// A minimal contact.
pub fn contact(tenant: TenantId, given: &str, family: &str) -> Contact {
    fixture!(
        tenant,
        Contact {
            given_name: given.into(),
            family_name: family.into(),
            emails: Vec::new(),
            phones: Vec::new(),
            addresses: Vec::new(),
            website: None,
            social_profiles: Vec::new(),
            preferred_channel: None,
            lead_source: None,
            birthday: None,
            important_dates: Vec::new(),
            family_notes: None,
            hobbies: Vec::new(),
            memberships: Vec::new(),
            marketing_consent: MarketingConsent::default(),
            lifecycle_stage: LifecycleStage::Lead,
            owner_id: None,
            tags: Vec::new(),
            company_id: None,
            job_title: None,
            department: None,
            credit_terms: None,
            external_refs: Vec::new(),
            rfm: None,
            custom: CustomValues::new(),
        }
    )
}

/// A contact with every profile field and a custom value of every type filled in.
pub fn full_contact(tenant: TenantId) -> Contact {
    let mut c = contact(tenant, "Ada", "Lovelace");
    c.emails = vec![
        EmailEntry { address: Email::parse("ada@analytical.co.uk").expect("valid fixture"), label: EmailLabel::Work },
        EmailEntry { address: Email::parse("ada.l@example.org").expect("valid fixture"), label: EmailLabel::Personal },
    ];
    c.phones = vec![PhoneEntry {
        number: PhoneNumber::parse("+44 20 7946 0958", None).expect("valid fixture"),
        label: PhoneLabel::Work,
    }];
    c.addresses = vec![Address {
        label: Some(AddressLabel::Home),
        lines: vec!["12 St James's Square".into(), "Flat 3".into()],
        city: Some("London".into()),
        region: None,
        postal_code: Some("SW1Y 4JH".into()),
        country: Some("GB".into()),
    }];
    c.website = Some(Website::parse("https://ada.example.org/notes?x=1").expect("valid fixture"));
    c.social_profiles = vec![SocialProfile { network: SocialNetwork::LinkedIn, handle: "ada-lovelace".into() }];
    c.preferred_channel = Some(Channel::Email);
    c.lead_source = Some(LeadSource::Referral);
    c.birthday = Some(date(1815, 12, 10));
    c.important_dates = vec![ImportantDate { label: "Wedding".into(), date: date(1835, 7, 8) }];
    c.family_notes = Some("Married to William; children Byron, Annabella, Ralph — ünïcödé ✓".into());
    c.hobbies = vec!["mathematics".into(), "horses".into()];
    c.memberships = vec![Membership {
        organization: "Royal Society".into(),
        role: Some("guest".into()),
        since: Some(date(1840, 1, 1)),
    }];
    c.marketing_consent = MarketingConsent {
        status: ConsentStatus::Granted,
        changed_at: Some(at(5)),
        method: Some(ConsentMethod::DoubleOptIn),
    };
    c.lifecycle_stage = LifecycleStage::SalesQualifiedLead;
    c.owner_id = Some(UserId::from_uuid(Uuid::now_v7()));
    c.tags = vec!["vip".into(), "it's \"quoted\"; DROP TABLE contacts;--".into()];
    c.company_id = Some(CompanyId::from_uuid(Uuid::now_v7()));
    c.job_title = Some("Analyst".into());
    c.department = Some("Engines".into());
    c.custom = [
        ("t_text", Value::Text("hello 'world'".into())),
        ("t_int", Value::Int(-42)),
        ("t_dec", Value::Decimal(Decimal::new(123_456_789, 4))),
        ("t_money", Value::Money(Money::new(Decimal::new(99_999, 2), Currency::JPY))),
        ("t_date", Value::Date(date(2026, 2, 28))),
        ("t_dt", Value::DateTime(at(77))),
        ("t_bool", Value::Bool(true)),
        ("t_multi", Value::List(vec![Value::Text("a".into()), Value::Text("b".into())])),
        ("t_ref", Value::Id(Uuid::now_v7())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    c.external_refs = vec![ExternalRef::new("quickbooks", format!("kunde-{}", c.id))];
    c
}

/// A company.
pub fn company(tenant: TenantId, name: &str) -> Company {
    fixture!(
        tenant,
        Company {
            name: name.into(),
            domain: Domain::parse("acme.com").ok(),
            industry: Some("Manufacturing".into()),
            size: Some(CompanySize::Medium),
            addresses: Vec::new(),
            phones: Vec::new(),
            website: None,
            owner_id: None,
            tags: vec!["key-account".into()],
            credit_terms: None,
            legal_name: None,
            tax_id: None,
            billing_email: None,
            account_balance: None,
            external_refs: Vec::new(),
            custom: CustomValues::new(),
        }
    )
}

/// A pipeline with the default sales stages.
pub fn pipeline(tenant: TenantId) -> Pipeline {
    fixture!(
        tenant,
        Pipeline { name: "Sales".into(), is_default: true, stages: default_sales_stages(&UuidV7Generator) }
    )
}

/// A deal in the pipeline's first stage.
pub fn deal(tenant: TenantId, p: &Pipeline, name: &str, amount: Option<Money>) -> Deal {
    let stage = p.stages[0].id;
    let mut d = fixture!(
        tenant,
        Deal {
            name: name.into(),
            pipeline_id: p.id,
            stage_id: stage,
            status: DealStatus::Open,
            amount,
            expected_close_date: Some(date(2026, 6, 30)),
            closed_at: None,
            contact_ids: Vec::new(),
            company_id: None,
            owner_id: None,
            line_items: vec![LineItem::new(
                "Seats",
                Decimal::new(15, 1),
                Money::new(Decimal::new(1999, 2), Currency::EUR)
            )],
            lost_reason: None,
            stage_history: vec![StageVisit { stage_id: stage, entered_at: at(0), left_at: None }],
            probability: Some(40),
            forecast_category: None,
            lead_source: None,
            campaign_id: None,
            tags: Vec::new(),
            external_refs: Vec::new(),
            custom: CustomValues::new(),
        }
    );
    d.external_refs = vec![ExternalRef::new("hubspot", format!("deal-{}", d.id))];
    d
}

/// A call about a contact.
pub fn activity(tenant: TenantId, contact: ContactId) -> Activity {
    let mut a = fixture!(
        tenant,
        Activity {
            kind: ActivityKind::Email,
            subject: "Re: proposal".into(),
            body: Some("Thanks!\nSee attached.".into()),
            direction: Some(Direction::Inbound),
            channel: Some(Channel::Email),
            occurred_at: at(10),
            due_at: None,
            completed_at: None,
            duration_secs: None,
            outcome: Some(Outcome::Replied),
            participants: vec![Participant {
                role: ParticipantRole::From,
                name: Some("Ada".into()),
                email: Email::parse("ada@analytical.co.uk").ok(),
                phone: None,
                contact_id: Some(contact),
            }],
            contact_ids: vec![contact],
            company_ids: Vec::new(),
            deal_ids: Vec::new(),
            owner_id: None,
            message_id: Some("abc@mail.example".into()),
            in_reply_to: Some("xyz@mail.example".into()),
            references: vec!["xyz@mail.example".into()],
            thread_id: Some("xyz@mail.example".into()),
            campaign_id: None,
            case_id: None,
            external_refs: Vec::new(),
            custom: CustomValues::new(),
        }
    );
    a.external_refs = vec![ExternalRef::new("zoom", format!("call-{}", a.id))];
    a
}

/// A `works_at` relation.
pub fn relation(tenant: TenantId, contact: ContactId, company: CompanyId) -> Relation {
    fixture!(
        tenant,
        Relation {
            from: EntityRef::new(EntityKind::Contact, contact),
            to: EntityRef::new(EntityKind::Company, company),
            label: RelationLabel::WorksAt,
            role: Some("CFO".into()),
        }
    )
}

/// A custom field definition.
pub fn custom_field(tenant: TenantId, kind: EntityKind, key: &str, ty: FieldType) -> CustomField {
    fixture!(tenant, CustomField { definition: FieldDefinition::new(kind, key, key, ty) })
}

fn eur(cents: i64) -> Money {
    Money::new(Decimal::new(cents, 2), Currency::EUR)
}

/// An active product priced in EUR with 19 % tax.
pub fn product(tenant: TenantId, sku: &str) -> Product {
    fixture!(
        tenant,
        Product {
            sku: sku.into(),
            name: format!("Product {sku}"),
            description: Some("A fine thing".into()),
            unit_price: eur(1999),
            tax_rate: Decimal::new(19, 0),
            active: true,
            external_refs: vec![ExternalRef::new("xero", format!("item-{sku}"))],
            tags: vec!["catalogue".into()],
            custom: CustomValues::new(),
        }
    )
}

/// A placed order for a contact: two lines with totals computed.
pub fn order(tenant: TenantId, contact: ContactId, number: &str) -> Order {
    let lines = vec![
        LineItem::new("Widget", Decimal::new(3, 0), eur(1999)).tax_rate(Decimal::new(19, 0)),
        LineItem::new("Service", Decimal::new(15, 1), eur(8000)).discount(Decimal::new(10, 0)),
    ];
    let t = Totals::of(&lines, Currency::EUR).expect("one currency");
    fixture!(
        tenant,
        Order {
            number: number.into(),
            contact_id: Some(contact),
            company_id: None,
            status: OrderStatus::Placed,
            currency: Currency::EUR,
            lines,
            subtotal: t.subtotal,
            tax: t.tax,
            total: t.total,
            payment_method: Some(PaymentMethod::BankTransfer),
            placed_at: Some(at(60)),
            paid_at: None,
            fulfilled_at: None,
            cancelled_at: None,
            returned_at: None,
            deal_id: None,
            campaign_id: None,
            owner_id: None,
            notes: None,
            external_refs: Vec::new(),
            tags: Vec::new(),
            custom: CustomValues::new(),
        }
    )
}

/// A sent invoice for a contact with one line.
pub fn invoice(tenant: TenantId, contact: ContactId, number: &str, total_cents: i64) -> Invoice {
    let lines = vec![LineItem::new("Consulting", Decimal::ONE, eur(total_cents))];
    let t = Totals::of(&lines, Currency::EUR).expect("one currency");
    fixture!(
        tenant,
        Invoice {
            number: number.into(),
            contact_id: Some(contact),
            company_id: None,
            order_id: None,
            deal_id: None,
            status: InvoiceStatus::Sent,
            currency: Currency::EUR,
            lines,
            subtotal: t.subtotal,
            tax: t.tax,
            total: t.total,
            amount_paid: Money::zero(Currency::EUR),
            issue_date: date(2026, 1, 5),
            due_date: date(2026, 2, 4),
            sent_at: Some(at(100)),
            paid_on: None,
            voided_at: None,
            payments: Vec::new(),
            notes: None,
            external_refs: vec![ExternalRef::new("quickbooks", format!("inv-{number}"))],
            managed_by: None,
            custom: CustomValues::new(),
        }
    )
}

/// An unapplied bank transfer from a contact.
pub fn payment(tenant: TenantId, contact: ContactId, cents: i64) -> Payment {
    fixture!(
        tenant,
        Payment {
            contact_id: Some(contact),
            company_id: None,
            amount: eur(cents),
            received_on: date(2026, 1, 20),
            method: PaymentMethod::BankTransfer,
            reference: Some("TRX-1".into()),
            applications: Vec::new(),
            external_refs: Vec::new(),
            notes: None,
            managed_by: None,
        }
    )
}

/// An open problem case for a contact, due a day after opening.
pub fn case(tenant: TenantId, contact: ContactId, subject: &str) -> Case {
    fixture!(
        tenant,
        Case {
            subject: subject.into(),
            description: Some("It stopped working".into()),
            channel: CaseChannel::Email,
            case_type: CaseType::Problem,
            priority: Priority::High,
            status: CaseStatus::Open,
            owner_id: None,
            contact_id: Some(contact),
            company_id: None,
            order_id: None,
            product_id: None,
            return_reason: None,
            opened_at: at(0),
            sla_due_at: at(86_400),
            sla_breached: false,
            resolved_at: None,
            closed_at: None,
            resolution: None,
            satisfaction: None,
            survey_comment: None,
            tags: Vec::new(),
            custom: CustomValues::new(),
        }
    )
}

/// A 4-star review from a contact.
pub fn feedback(tenant: TenantId, contact: ContactId) -> Feedback {
    fixture!(
        tenant,
        Feedback {
            kind: FeedbackKind::Review,
            contact_id: Some(contact),
            company_id: None,
            case_id: None,
            deal_id: None,
            order_id: None,
            product_id: None,
            rating: Some(4),
            source: Some("trustpilot".into()),
            text: Some("Great service, slow delivery".into()),
            competitor: None,
            reason: None,
            received_at: at(500),
            tags: Vec::new(),
        }
    )
}

/// A segment of leads.
pub fn segment(tenant: TenantId, name: &str) -> Segment {
    fixture!(
        tenant,
        Segment {
            name: name.into(),
            description: None,
            filter: crate::query::Filter::eq("lifecycle_stage", LifecycleStage::Lead),
        }
    )
}

/// An active email campaign with a budget.
pub fn campaign(tenant: TenantId, name: &str, segment: Option<SegmentId>) -> Campaign {
    fixture!(
        tenant,
        Campaign {
            name: name.into(),
            channel: CampaignChannel::Email,
            status: CampaignStatus::Active,
            budget: Some(eur(500_000)),
            actual_cost: None,
            start_date: Some(date(2026, 1, 1)),
            end_date: Some(date(2026, 3, 31)),
            goal: Some("Sign-ups".into()),
            segment_id: segment,
            owner_id: None,
            tags: Vec::new(),
            custom: CustomValues::new(),
        }
    )
}

/// A member who was sent the campaign and opened it.
pub fn campaign_member(tenant: TenantId, campaign: CampaignId, contact: ContactId) -> CampaignMember {
    fixture!(
        tenant,
        CampaignMember {
            campaign_id: campaign,
            contact_id: contact,
            added_at: at(0),
            responses: vec![
                CampaignResponse { kind: ResponseKind::Sent, at: at(10) },
                CampaignResponse { kind: ResponseKind::Opened, at: at(20) },
            ],
        }
    )
}

/// Custom values of several types, with awkward text and decimals that keep trailing zeros.
pub fn sample_custom() -> CustomValues {
    [
        ("c_text", Value::Text("Grüße, 'world' \"quoted\" \\ back — 日本語 ✓ 🦀".into())),
        ("c_int", Value::Int(i64::MIN + 1)),
        ("c_dec", Value::Decimal(Decimal::new(1050, 2))),
        ("c_dec_zero", Value::Decimal(Decimal::new(0, 3))),
        ("c_money", Value::Money(Money::new(Decimal::new(120_000, 3), Currency::KWD))),
        ("c_date", Value::Date(date(2024, 2, 29))),
        ("c_dt", Value::DateTime(at(3_600))),
        ("c_bool", Value::Bool(false)),
        ("c_multi", Value::List(vec![Value::Text("ä".into()), Value::Text("B".into()), Value::Text("".into())])),
        ("c_ref", Value::Id(Uuid::now_v7())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A product with every field set: non-ASCII text, two external refs, trailing-zero decimals.
pub fn full_product(tenant: TenantId, sku: &str) -> Product {
    let mut p = product(tenant, sku);
    p.name = format!("Überschall-Gerät {sku} «deluxe»");
    p.description = Some("Line one\nLine two: 'quotes' and \"doubles\"; 100 % ✓".into());
    p.unit_price = eur(1050);
    p.tax_rate = Decimal::new(7_700, 3);
    p.active = false;
    p.external_refs =
        vec![ExternalRef::new("xero", format!("item-{sku}")), ExternalRef::new("shopify", format!("gid://ü/{sku}"))];
    p.tags = vec!["catalogue".into(), "späti".into()];
    p.custom = sample_custom();
    p
}

/// Lines with a product, a SKU, discounts with trailing zeros and tax.
pub fn full_lines(product: &Product) -> Vec<LineItem> {
    vec![
        LineItem::for_product(product, Decimal::new(2_50, 2)).discount(Decimal::new(12_50, 2)),
        LineItem::new("Beratung — Stunde", Decimal::new(15, 1), eur(8_000))
            .discount(Decimal::new(100, 1))
            .tax_rate(Decimal::new(19_00, 2)),
    ]
}

/// An order with every optional field set.
pub fn full_order(tenant: TenantId, contact: ContactId, product: &Product, number: &str) -> Order {
    let mut o = order(tenant, contact, number);
    o.lines = full_lines(product);
    let t = Totals::of(&o.lines, Currency::EUR).expect("one currency");
    (o.subtotal, o.tax, o.total) = (t.subtotal, t.tax, t.total);
    o.company_id = Some(CompanyId::from_uuid(Uuid::now_v7()));
    o.status = OrderStatus::Returned;
    o.payment_method = Some(PaymentMethod::PayPal);
    o.placed_at = Some(at(60));
    o.paid_at = Some(at(120));
    o.fulfilled_at = Some(at(180));
    o.cancelled_at = Some(at(240));
    o.returned_at = Some(at(300));
    o.deal_id = Some(DealId::from_uuid(Uuid::now_v7()));
    o.campaign_id = Some(CampaignId::from_uuid(Uuid::now_v7()));
    o.owner_id = Some(UserId::from_uuid(Uuid::now_v7()));
    o.notes = Some("Lieferung an Tür 3 — «fragile»".into());
    o.external_refs = vec![ExternalRef::new("shop", format!("order-{number}"))];
    o.tags = vec!["rush".into(), "ünïcode".into()];
    o.custom = sample_custom();
    o
}

/// An invoice with every optional field set: two applied payments, lines with discount and tax.
pub fn full_invoice(tenant: TenantId, contact: ContactId, product: &Product, number: &str) -> Invoice {
    let mut i = invoice(tenant, contact, number, 0);
    i.lines = full_lines(product);
    let t = Totals::of(&i.lines, Currency::EUR).expect("one currency");
    (i.subtotal, i.tax, i.total) = (t.subtotal, t.tax, t.total);
    i.company_id = Some(CompanyId::from_uuid(Uuid::now_v7()));
    i.order_id = Some(OrderId::from_uuid(Uuid::now_v7()));
    i.deal_id = Some(DealId::from_uuid(Uuid::now_v7()));
    i.status = InvoiceStatus::PartiallyPaid;
    i.payments = vec![
        AppliedPayment {
            payment_id: PaymentId::from_uuid(Uuid::now_v7()),
            paid_on: date(2026, 1, 10),
            amount: eur(1_000),
            method: PaymentMethod::Card,
        },
        AppliedPayment {
            payment_id: PaymentId::from_uuid(Uuid::now_v7()),
            paid_on: date(2026, 1, 12),
            amount: eur(2_050),
            method: PaymentMethod::Cheque,
        },
    ];
    i.amount_paid = eur(3_050);
    i.sent_at = Some(at(100));
    i.paid_on = Some(date(2026, 1, 12));
    i.voided_at = Some(at(200));
    i.notes = Some("Zahlbar ohne Abzug — merci ✓".into());
    i.managed_by = Some("quickbooks".into());
    i.external_refs =
        vec![ExternalRef::new("quickbooks", format!("inv-{number}")), ExternalRef::new("xero", format!("Ä-{number}"))];
    i.custom = sample_custom();
    i
}

/// A payment with every optional field set, applied to two invoices with money left over.
pub fn full_payment(tenant: TenantId, contact: ContactId, invoices: [InvoiceId; 2]) -> Payment {
    let mut p = payment(tenant, contact, 10_000);
    p.company_id = Some(CompanyId::from_uuid(Uuid::now_v7()));
    p.method = PaymentMethod::Other;
    p.reference = Some("Überweisung 'Nr. 42'".into());
    p.applications = vec![
        PaymentApplication { invoice_id: invoices[0], amount: eur(2_050) },
        PaymentApplication { invoice_id: invoices[1], amount: Money::new(Decimal::new(30_000, 3), Currency::EUR) },
    ];
    p.external_refs =
        vec![ExternalRef::new("stripe", format!("ch_ü{}", p.id)), ExternalRef::new("bank", format!("77/{}", p.id))];
    p.notes = Some("Teilzahlung\tmit Tab".into());
    p.managed_by = Some("xero".into());
    p
}

/// A resolved, closed return case with every optional field set.
pub fn full_case(tenant: TenantId, contact: ContactId, product: ProductId) -> Case {
    let mut c = case(tenant, contact, "Gerät kaputt — «dringend»");
    c.description = Some("Es summt.\nDann: Stille.".into());
    c.channel = CaseChannel::InPerson;
    c.case_type = CaseType::Return;
    c.priority = Priority::Urgent;
    c.status = CaseStatus::Closed;
    c.owner_id = Some(UserId::from_uuid(Uuid::now_v7()));
    c.company_id = Some(CompanyId::from_uuid(Uuid::now_v7()));
    c.order_id = Some(OrderId::from_uuid(Uuid::now_v7()));
    c.product_id = Some(product);
    c.return_reason = Some("Falsche Farbe 🎨".into());
    c.sla_breached = true;
    c.resolved_at = Some(at(90_000));
    c.closed_at = Some(at(90_500));
    c.resolution = Some("Ersetzt".into());
    c.satisfaction = Some(5);
    c.survey_comment = Some("Très bien ✓".into());
    c.tags = vec!["rma".into(), "größe".into()];
    c.custom = sample_custom();
    c
}

/// Feedback with every optional field set.
pub fn full_feedback(tenant: TenantId, contact: ContactId, case: CaseId, product: ProductId) -> Feedback {
    let mut f = feedback(tenant, contact);
    f.kind = FeedbackKind::LostToCompetitor;
    f.company_id = Some(CompanyId::from_uuid(Uuid::now_v7()));
    f.case_id = Some(case);
    f.deal_id = Some(DealId::from_uuid(Uuid::now_v7()));
    f.order_id = Some(OrderId::from_uuid(Uuid::now_v7()));
    f.product_id = Some(product);
    f.rating = Some(1);
    f.source = Some("exit survey «Q1»".into());
    f.text = Some("Zu teuer; 'too' expensive".into());
    f.competitor = Some("Müller & Söhne".into());
    f.reason = Some("price".into());
    f.tags = vec!["churn".into()];
    f
}

/// A segment whose filter nests and/or/not around operands of several types.
pub fn full_segment(tenant: TenantId, name: &str) -> Segment {
    use crate::query::Filter;
    let mut s = segment(tenant, name);
    s.description = Some("Führungskräfte — «VIP» ✓".into());
    s.filter = Filter::And(vec![
        Filter::Or(vec![
            Filter::eq("lifecycle_stage", LifecycleStage::Lead),
            Filter::Not(Box::new(Filter::is_null("custom.budget"))),
            Filter::And(vec![
                Filter::gte("custom.budget", Decimal::new(1050, 2)),
                Filter::lt("birthday", date(1990, 1, 1)),
            ]),
        ]),
        Filter::Not(Box::new(Filter::Or(vec![
            Filter::contains("tags", "ex-Kunde ✗"),
            Filter::starts_with("family_name", "Ö'"),
        ]))),
        Filter::is_in("custom.sports", ["golf", "échecs"]),
        Filter::ne("custom.rank", Value::Int(0)),
        Filter::gt("updated_at", at(42)),
        Filter::eq("company_id", Uuid::now_v7()),
        Filter::lte("custom.fee", Money::new(Decimal::new(9_990, 3), Currency::EUR)),
        Filter::Or(vec![]),
        Filter::And(vec![Filter::All]),
    ]);
    s
}

/// A completed campaign with every optional field set.
pub fn full_campaign(tenant: TenantId, name: &str, segment: SegmentId) -> Campaign {
    let mut c = campaign(tenant, name, Some(segment));
    c.channel = CampaignChannel::DirectMail;
    c.status = CampaignStatus::Completed;
    c.budget = Some(eur(100_050));
    c.actual_cost = Some(Money::new(Decimal::new(99_990, 2), Currency::EUR));
    c.goal = Some("Anmeldungen ↑ 10 %".into());
    c.owner_id = Some(UserId::from_uuid(Uuid::now_v7()));
    c.tags = vec!["q1".into(), "frühling".into()];
    c.custom = sample_custom();
    c
}

/// A member with a response of every kind.
pub fn full_campaign_member(tenant: TenantId, campaign: CampaignId, contact: ContactId) -> CampaignMember {
    let mut m = campaign_member(tenant, campaign, contact);
    m.added_at = at(5);
    m.responses = ResponseKind::ALL
        .iter()
        .enumerate()
        .map(|(i, kind)| CampaignResponse { kind: *kind, at: at(10 + i as i64) })
        .collect();
    m
}

/// A sync link from `company` to a Xero contact, with a snapshot and an open conflict.
pub fn full_sync_link(tenant: TenantId, company: CompanyId) -> SyncLink {
    fixture!(
        tenant,
        SyncLink {
            connection: "xero:Démo Ltd".into(),
            local: EntityRef::new(EntityKind::Company, company),
            remote_kind: "Contact".into(),
            remote_id: format!("ç-{company}"),
            remote_version: Some("2026-11-02T10:00:00.123Z".into()),
            snapshot: [("name".to_owned(), Some("Müller & Söhne".to_owned())), ("phone".to_owned(), None)]
                .into_iter()
                .collect(),
            conflicts: vec![SyncConflict {
                field: "name".into(),
                base: Some("Müller & Söhne".into()),
                local: Some("Müller und Söhne".into()),
                remote: None,
                detected_at: at(60),
            }],
            resolved: vec!["phone".into()],
            synced_at: at(30),
        }
    )
}

/// An integration's state: a mailbox cursor with nested JSON.
pub fn sync_state(tenant: TenantId, key: &str) -> SyncState {
    fixture!(
        tenant,
        SyncState {
            key: key.into(),
            value: serde_json::json!({"uid_validity": 1_700_000_001u64, "last_uid": 42, "folder": "Gesendete Objekte"}),
        }
    )
}

/// A merge of a contact into another, with the records it changed as they were.
pub fn merge_record(tenant: TenantId, survivor: &Contact, merged: &Contact, moved: Record) -> Merge {
    fixture!(
        tenant,
        Merge {
            kind: EntityKind::Contact,
            survivor: survivor.id.into(),
            merged: vec![merged.id.into()],
            before: vec![survivor.clone().into_record(), merged.clone().into_record()],
            after: vec![(survivor.entity_ref(), 2), (moved.entity_ref(), moved.version() + 1)],
            moved: vec![moved],
            merged_by: Some(UserId::from_uuid(Uuid::now_v7())),
            undone_at: None,
        }
    )
}

mod access;
pub use access::*;
mod automation;
pub use automation::*;
