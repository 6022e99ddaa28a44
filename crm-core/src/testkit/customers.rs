//! A customer's reach, evaluated by the store itself: a contact acting for themselves
//! ([`Actor::customer`]) lists, counts, reads and searches only their own contact record and
//! the cases, orders, invoices and payments naming them, drafts left out.

use chrono::NaiveDate;

use super::*;
use crate::actor::Actor;
use crate::model::{CaseChannel, CaseType, LineItem, PaymentMethod};
use crate::service::{CrmBuilder, NewCase, NewContact, NewInvoice, NewOrder, NewPayment};

/// Two customers with cases, placed and draft orders, sent and draft invoices and payments:
/// each customer's lists, counts, reads and searches hold exactly their own, non-draft records.
pub async fn customers_reach_only_their_own(store: Arc<dyn Store>) {
    let crm = CrmBuilder::from_arc(store).build().expect("a CRM");
    let t = tenant();
    let cx = crm.as_actor(&Actor::system(t));
    let eur = |a: i64| Money::new(Decimal::from(a), Currency::EUR);
    let mut mine = BTreeMap::<EntityKind, Vec<Uuid>>::new();
    let mut people = Vec::new();
    for (given, family) in [("Quinta", "Marlowe"), ("Rufus", "Tennant")] {
        let c = cx.contacts().create(NewContact::new(given, family)).await.expect("a contact");
        let case = NewCase::new(format!("{family} kettle leaks"), CaseType::Problem, CaseChannel::Web).contact(c.id);
        let case = cx.cases().open(case).await.expect("a case");
        let kettle = NewOrder::for_contact(c.id).line(LineItem::new("Kettle", 1.into(), eur(40)));
        let order = cx.orders().create(kettle).await.expect("an order");
        let placed = cx.orders().place(order.id).await.expect("placed");
        cx.orders().create(NewOrder::for_contact(c.id).line(LineItem::new("Mug", 1.into(), eur(5)))).await.unwrap();
        let invoice = NewInvoice::for_contact(c.id).line(LineItem::new("Kettle", 1.into(), eur(40)));
        let sent = cx.invoices().send(cx.invoices().create(invoice.clone()).await.unwrap().id).await.unwrap();
        cx.invoices().create(invoice).await.expect("a draft invoice");
        let day = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let mut pay = NewPayment::new(eur(10), day, PaymentMethod::BankTransfer);
        pay.contact_id = Some(c.id);
        let paid = cx.payments().record(pay).await.expect("a payment");
        let ids: [(EntityKind, Uuid); 5] = [
            (EntityKind::Contact, c.id.into()),
            (EntityKind::Case, case.id.into()),
            (EntityKind::Order, placed.id.into()),
            (EntityKind::Invoice, sent.id.into()),
            (EntityKind::Payment, paid.id.into()),
        ];
        people.push((c.id, ids));
    }
    for (who, ids) in &people {
        mine.clear();
        for (k, id) in ids {
            mine.entry(*k).or_default().push(*id);
        }
        let me = crm.as_actor(&Actor::customer(t, *who));
        let all = Query::new(Filter::All).limit(100);
        let ids_of = |v: Vec<Record>| v.iter().map(Record::id).collect::<Vec<Uuid>>();
        let listed: [(EntityKind, Vec<Uuid>); 5] = [
            (
                EntityKind::Contact,
                ids_of(me.contacts().list(&all).await.unwrap().items.into_iter().map(Entity::into_record).collect()),
            ),
            (
                EntityKind::Case,
                ids_of(me.cases().list(&all).await.unwrap().items.into_iter().map(Entity::into_record).collect()),
            ),
            (
                EntityKind::Order,
                ids_of(me.orders().list(&all).await.unwrap().items.into_iter().map(Entity::into_record).collect()),
            ),
            (
                EntityKind::Invoice,
                ids_of(me.invoices().list(&all).await.unwrap().items.into_iter().map(Entity::into_record).collect()),
            ),
            (
                EntityKind::Payment,
                ids_of(me.payments().list(&all).await.unwrap().items.into_iter().map(Entity::into_record).collect()),
            ),
        ];
        for (kind, got) in listed {
            assert_eq!(Some(&got), mine.get(&kind), "{kind}: {who}'s own, drafts left out");
        }
        assert_eq!(me.cases().count(&Filter::All).await.unwrap(), 1);
        let (other, theirs) = people.iter().find(|(c, _)| c != who).unwrap();
        for (kind, id) in theirs {
            let found = me.record(EntityRef { kind: *kind, id: *id }).await.expect("a read");
            assert!(found.is_none(), "{kind} of {other} is out of reach");
        }
        let name = |id: &ContactId| if *id == people[0].0 { "Marlowe" } else { "Tennant" };
        let hits = me.search(name(who)).await.expect("a customer searches");
        assert_eq!(hits.iter().map(Record::id).collect::<Vec<_>>(), vec![Uuid::from(*who)], "themselves");
        assert!(me.search(name(other)).await.expect("a search").is_empty(), "not the other customer");
        assert!(matches!(me.deals().count(&Filter::All).await, Err(Error::Forbidden(_))), "no deals");
        assert!(matches!(me.activities().count(&Filter::All).await, Err(Error::Forbidden(_))), "no notes");
        assert!(matches!(me.users().count(&Filter::All).await, Err(Error::Forbidden(_))), "no users");
    }
}
