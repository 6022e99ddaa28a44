//! Unique keys per tenant and kind, also under concurrent claims.

use super::*;

/// One write of a transaction in the unique-key cases.
#[derive(Clone, Debug)]
enum Op {
    Insert(Record),
    Update(Record),
    /// Delete of this record at its version.
    Delete(Record),
}

impl Op {
    fn record(&self) -> &Record {
        match self {
            Op::Insert(r) | Op::Update(r) | Op::Delete(r) => r,
        }
    }
}

fn ins(e: impl Entity) -> Op {
    Op::Insert(e.into_record())
}

fn upd(e: impl Entity) -> Op {
    Op::Update(e.into_record())
}

fn del(e: &impl Entity) -> Op {
    Op::Delete(e.clone().into_record())
}

/// `e` as its next version, changed by `change`.
fn next<E: Entity>(e: &E, change: impl FnOnce(&mut E)) -> E {
    let mut n = e.clone();
    n.set_version(e.version() + 1);
    change(&mut n);
    n
}

/// Runs `ops` in one transaction and commits it; the first error drops (rolls back) the transaction.
async fn run(store: &Arc<dyn Store>, t: TenantId, ops: &[Op]) -> Result<(), Error> {
    let mut tx = store.begin(t, TxMode::ReadWrite).await?;
    for op in ops {
        match op.clone() {
            Op::Insert(r) => tx.insert(r).await?,
            Op::Update(r) => tx.update(r).await?,
            Op::Delete(r) => tx.delete(r.kind(), r.id(), r.version()).await?,
        }
    }
    tx.commit().await.map(|_| ())
}

/// The committed state of every record `ops` touch.
async fn touched(store: &Arc<dyn Store>, t: TenantId, ops: &[Op]) -> Vec<Option<Record>> {
    let mut out = Vec::new();
    for op in ops {
        out.push(get(store, t, op.record().kind(), op.record().id()).await);
    }
    out
}

/// Runs an unrelated insert and then `ops` in one transaction; asserts it is refused (at a
/// write or at commit) with `Duplicate` on `field` and that nothing it wrote is visible.
async fn refused(store: &Arc<dyn Store>, t: TenantId, what: &str, field: &str, ops: Vec<Op>) {
    let mut all = vec![ins(contact(t, "Marker", what))];
    all.extend(ops);
    let before = touched(store, t, &all).await;
    let res = run(store, t, &all).await;
    assert_duplicate(&res, field, what);
    assert_eq!(touched(store, t, &all).await, before, "{what}: the refused transaction left writes behind");
}

/// Runs `ops` in one transaction; asserts it commits and every record reads as last written.
async fn accepted(store: &Arc<dyn Store>, t: TenantId, what: &str, ops: Vec<Op>) {
    if let Err(e) = run(store, t, &ops).await {
        panic!("{what}: refused with {e:?}");
    }
    let mut last: BTreeMap<(EntityKind, Uuid), Option<Record>> = BTreeMap::new();
    for op in ops {
        let r = op.record();
        let state = if matches!(op, Op::Delete(_)) { None } else { Some(r.clone()) };
        last.insert((r.kind(), r.id()), state);
    }
    for ((kind, id), want) in last {
        assert_eq!(get(store, t, kind, id).await, want, "{what}: {kind} {id} after commit");
    }
}

/// A copy of `r` (same id, same fields) owned by tenant `t`.
fn in_tenant(r: &Record, t: TenantId) -> Record {
    let mut json = serde_json::to_value(r).expect("serialize");
    json["record"]["tenant_id"] = serde_json::to_value(t).expect("serialize");
    let copy: Record = serde_json::from_value(json).expect("deserialize");
    assert_eq!(copy.tenant_id(), t, "tenant moved");
    copy
}

/// An invoice with no external refs, so only its number can collide.
fn bare_invoice(t: TenantId, contact: ContactId, number: &str) -> Invoice {
    let mut i = invoice(t, contact, number, 10_000);
    i.external_refs.clear();
    i
}

/// Unique keys ([`Record::unique_keys`]) hold per tenant and kind. A duplicate SKU (in any ASCII
/// case), order or invoice number, external ref, segment name (in any case), second default
/// pipeline or repeated campaign member — inserted, or reached by an update, or claimed twice in
/// one transaction — is refused with `Duplicate` naming the key's field, and the transaction
/// writes nothing. A record keeps its own key across updates; the same key text in another
/// tenant, another kind or another key field is fine; a key freed in a transaction (delete or
/// change) may be claimed later in it; a key freed by a committed delete or change is free, and
/// a refused transaction holds no key.
pub async fn unique_keys_are_enforced(store: Arc<dyn Store>) {
    let s = &store;
    let t = tenant();
    let buyer = contact(t, "Buyer", "");
    let (xena, yuri) = (contact(t, "Xena", ""), contact(t, "Yuri", ""));
    let p1 = product(t, "Widget-1");
    let p2 = product(t, "Gadget-2");
    let mut o1 = order(t, buyer.id, "SO-100");
    o1.external_refs = vec![ExternalRef::new("shop", "1001")];
    let o2 = order(t, buyer.id, "SO-101");
    let i1 = invoice(t, buyer.id, "INV-7", 10_000);
    let mut pay1 = payment(t, buyer.id, 500);
    pay1.external_refs = vec![ExternalRef::new("stripe", "ch_1")];
    let pipe1 = pipeline(t);
    let mut pipe2 = pipeline(t);
    pipe2.name = "Renewals".into();
    pipe2.is_default = false;
    let mut pipe_other = pipe2.clone();
    pipe_other.id = PipelineId::from_uuid(Uuid::now_v7());
    pipe_other.name = "Partners".into();
    let seg1 = segment(t, "Leads");
    let seg2 = segment(t, "Été");
    let camp = campaign(t, "Spring", Some(seg1.id));
    let m1 = campaign_member(t, camp.id, xena.id);
    let m2 = campaign_member(t, camp.id, yuri.id);
    let originals: Vec<Record> =
        records![buyer, xena, yuri, p1, p2, o1, o2, i1, pay1, pipe1, pipe2, pipe_other, seg1, seg2, camp, m1, m2];
    accepted(s, t, "distinct keys, several non-default pipelines", originals.iter().cloned().map(Op::Insert).collect())
        .await;

    // Duplicates by insert.
    for sku in ["Widget-1", "widget-1", "WIDGET-1", " wIdGeT-1 "] {
        refused(s, t, &format!("product SKU {sku:?}"), "sku", vec![ins(bare_product(t, sku))]).await;
    }
    let twins = vec![ins(bare_product(t, "New-9")), ins(bare_product(t, "NEW-9"))];
    refused(s, t, "two new products with one SKU", "sku", twins).await;
    refused(s, t, "order number", "number", vec![ins(order(t, buyer.id, "SO-100"))]).await;
    refused(s, t, "invoice number", "number", vec![ins(bare_invoice(t, buyer.id, "INV-7"))]).await;
    let mut p = bare_product(t, "Other-3");
    p.external_refs = vec![ExternalRef::new("shopify", "9"), p1.external_refs[0].clone()];
    refused(s, t, "product external ref", "external_refs", vec![ins(p)]).await;
    let mut o = order(t, buyer.id, "SO-200");
    o.external_refs = o1.external_refs.clone();
    refused(s, t, "order external ref", "external_refs", vec![ins(o)]).await;
    let mut i = bare_invoice(t, buyer.id, "INV-8");
    i.external_refs = i1.external_refs.clone();
    refused(s, t, "invoice external ref", "external_refs", vec![ins(i)]).await;
    let mut pay = payment(t, buyer.id, 100);
    pay.external_refs = pay1.external_refs.clone();
    refused(s, t, "payment external ref", "external_refs", vec![ins(pay)]).await;
    refused(s, t, "segment name in another case", "name", vec![ins(segment(t, "LEADS"))]).await;
    refused(s, t, "segment name in another non-ASCII case", "name", vec![ins(segment(t, "ÉTÉ"))]).await;
    refused(s, t, "second default pipeline", "is_default", vec![ins(pipeline(t))]).await;
    let again = campaign_member(t, camp.id, xena.id);
    refused(s, t, "contact twice in a campaign", "contact_id", vec![ins(again)]).await;

    // Duplicates by update.
    refused(s, t, "SKU changed to a taken one", "sku", vec![upd(next(&p2, |p| p.sku = "widget-1".into()))]).await;
    let taken = next(&o2, |o| o.number = "SO-100".into());
    refused(s, t, "order number changed to a taken one", "number", vec![upd(taken)]).await;
    let pay1 = next(&pay1, |p| p.external_refs.push(o1.external_refs[0].clone()));
    accepted(s, t, "an order's external ref on a payment", vec![upd(pay1.clone())]).await;
    let taken = next(&pipe2, |p| p.is_default = true);
    refused(s, t, "a second pipeline made default", "is_default", vec![upd(taken)]).await;
    refused(s, t, "segment renamed to a taken name", "name", vec![upd(next(&seg2, |x| x.name = "leads".into()))]).await;
    let taken = next(&m2, |m| m.contact_id = xena.id);
    refused(s, t, "member moved to a contact already in the campaign", "contact_id", vec![upd(taken)]).await;

    // A holder that is rewritten but keeps its key still holds it; a freed key goes to one claimant.
    let kept = vec![upd(next(&p1, |p| p.name = "Renamed".into())), ins(bare_product(t, "WIDGET-1"))];
    refused(s, t, "claim of a key its holder keeps while updated", "sku", kept).await;
    let twice = vec![del(&p2), ins(bare_product(t, "gadget-2")), ins(bare_product(t, "GADGET-2"))];
    refused(s, t, "a freed SKU claimed twice", "sku", twice).await;
    let twice = vec![upd(next(&pipe1, |p| p.is_default = false)), ins(pipeline(t)), ins(pipeline(t))];
    refused(s, t, "a freed default claimed twice", "is_default", twice).await;

    // Nothing above left a key behind: the keys of the refused transactions are free.
    let mut p = bare_product(t, "Other-3");
    p.external_refs = vec![ExternalRef::new("shopify", "9")];
    let freed = vec![
        ins(bare_product(t, "new-9")),
        ins(p),
        ins(order(t, buyer.id, "SO-200")),
        ins(bare_invoice(t, buyer.id, "INV-8")),
    ];
    accepted(s, t, "keys the refused transactions tried to claim", freed).await;

    // A record never collides with itself, even listing one external ref twice.
    let mut p = bare_product(t, "Twice-1");
    p.external_refs = vec![ExternalRef::new("shop", "twice"), ExternalRef::new("shop", "twice")];
    accepted(s, t, "a record repeating its own external ref", vec![ins(p)]).await;

    // A record keeps its own key across updates, even re-cased.
    let p1 = next(&p1, |p| {
        p.sku = "WIDGET-1".into();
        p.name = "Widget, re-cased".into();
    });
    let seg2 = next(&seg2, |x| x.name = "ÉTÉ".into());
    let pipe1 = next(&pipe1, |p| p.name = "Main".into());
    let m1 = next(&m1, |m| m.responses.clear());
    let own = vec![upd(p1.clone()), upd(seg2.clone()), upd(pipe1.clone()), upd(m1.clone())];
    accepted(s, t, "updates keeping their own keys", own).await;

    // The same text in another kind or another key field is no duplicate.
    let order_like_invoice = order(t, buyer.id, "INV-7");
    let invoice_like_order = bare_invoice(t, buyer.id, "SO-100");
    let mut order_like_ref = order(t, buyer.id, "shop:1001");
    order_like_ref.external_refs = vec![p1.external_refs[0].clone()];
    let mut payment_like_invoice = payment(t, buyer.id, 1);
    payment_like_invoice.external_refs = i1.external_refs.clone();
    let product_like_order = bare_product(t, "SO-101");
    let other_kinds = vec![
        ins(order_like_invoice),
        ins(invoice_like_order),
        ins(order_like_ref),
        ins(payment_like_invoice),
        ins(product_like_order),
    ];
    accepted(s, t, "the same key text in other kinds and fields", other_kinds).await;
    // Keys compare exactly as the model normalised them (no case folding the model did not do).
    let lower = order(t, buyer.id, "so-100");
    if lower.unique_keys().iter().any(|k| o1.unique_keys().contains(k)) {
        refused(s, t, "order number in another case", "number", vec![ins(lower)]).await;
    } else {
        accepted(s, t, "order number differing in case only", vec![ins(lower)]).await;
    }

    // A key freed in a transaction may be claimed later in it.
    let mut heir = bare_product(t, "GADGET-2");
    heir.external_refs = p2.external_refs.clone();
    accepted(s, t, "delete the holder, claim its SKU and external ref", vec![del(&p2), ins(heir)]).await;
    let seg1 = next(&seg1, |x| x.name = "Prospects".into());
    let seg_heir = segment(t, "leads");
    accepted(s, t, "rename the holder, claim its name", vec![upd(seg1.clone()), ins(seg_heir)]).await;
    let o1b = next(&o1, |o| {
        o.number = "SO-100-A".into();
        o.external_refs.clear();
    });
    let mut o_heir = order(t, buyer.id, "SO-100");
    o_heir.external_refs = o1.external_refs.clone();
    accepted(s, t, "renumber the holder, claim its number and external ref", vec![upd(o1b), ins(o_heir)]).await;
    let pipe1 = next(&pipe1, |p| p.is_default = false);
    let mut pipe3 = pipeline(t);
    pipe3.name = "New main".into();
    accepted(s, t, "move the default to a new pipeline", vec![upd(pipe1.clone()), ins(pipe3.clone())]).await;
    let defaults = select(s, t, EntityKind::Pipeline, Query::new(Filter::eq("is_default", true)).limit(3)).await;
    assert_eq!(defaults, vec![pipe3.clone().into_record()], "exactly one default pipeline");
    let pipe2 = next(&pipe2, |p| p.is_default = true);
    let pipe3 = next(&pipe3, |p| p.is_default = false);
    accepted(s, t, "hand the default to an existing pipeline", vec![upd(pipe3), upd(pipe2)]).await;
    let m1_again = campaign_member(t, camp.id, xena.id);
    accepted(s, t, "remove a member and add them again", vec![del(&m1), ins(m1_again)]).await;
    let tmp = bare_product(t, "Tmp-1");
    let tmp_heir = bare_product(t, "TMP-1");
    accepted(s, t, "a key claimed and freed within one transaction", vec![ins(tmp.clone()), del(&tmp), ins(tmp_heir)])
        .await;

    // Keys freed by committed deletes and changes are free.
    accepted(s, t, "delete holders", vec![del(&p1), del(&i1), del(&pay1)]).await;
    let seg2 = next(&seg2, |x| x.name = "Herbst".into());
    accepted(s, t, "rename a holder", vec![upd(seg2)]).await;
    let mut p1_heir = bare_product(t, "widget-1");
    p1_heir.external_refs = p1.external_refs.clone();
    let mut i1_heir = bare_invoice(t, buyer.id, "INV-7");
    i1_heir.external_refs = i1.external_refs.clone();
    let mut pay1_heir = payment(t, buyer.id, 7);
    pay1_heir.external_refs = pay1.external_refs.clone();
    let freed = vec![ins(p1_heir), ins(i1_heir), ins(pay1_heir), ins(segment(t, "été"))];
    accepted(s, t, "claim keys freed by committed deletes and changes", freed).await;

    // A key committed by a transaction that began later is still taken.
    let mut early = begin(s, t).await;
    accepted(s, t, "a later transaction claims a SKU", vec![ins(bare_product(t, "Race-1"))]).await;
    let late_claim = bare_product(t, "race-1");
    let res = match early.insert(late_claim.clone().into_record()).await {
        Ok(()) => early.commit().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert_duplicate(&res, "sku", "claim of a SKU committed after the transaction began");
    assert_eq!(get(s, t, EntityKind::Product, late_claim.id.as_uuid()).await, None);

    // Another tenant may hold every one of these keys, even on records with the same ids.
    let u = tenant();
    let twins: Vec<Op> = originals.iter().map(|r| Op::Insert(in_tenant(r, u))).collect();
    accepted(s, u, "the same keys in another tenant", twins).await;
}

/// Waits until `n` callers have arrived, or 5 s have passed (so a backend whose `begin` waits
/// for other transactions cannot hang the case; its claims then overlap less).
async fn rendezvous(arrived: &AtomicUsize, n: usize) {
    arrived.fetch_add(1, AtomicOrdering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(5);
    futures::future::poll_fn(|cx| {
        if arrived.load(AtomicOrdering::SeqCst) >= n || Instant::now() >= deadline {
            std::task::Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

/// Every claim runs in its own transaction: all begin, wait for each other, insert a marker
/// and the claim, yield, and commit. Asserts that exactly one commits, that every other fails
/// with `Duplicate` on `field`, and that a failed transaction left neither marker nor claim.
async fn race(store: &Arc<dyn Store>, t: TenantId, field: &str, claims: Vec<Record>) {
    let n = claims.len();
    let arrived = AtomicUsize::new(0);
    let tasks = claims.into_iter().enumerate().map(|(i, claim)| {
        let arrived = &arrived;
        async move {
            let marker = contact(t, &format!("claimer-{i}"), "");
            let attempt = async {
                let mut tx = store.begin(t, TxMode::ReadWrite).await?;
                rendezvous(arrived, n).await;
                tx.insert(marker.clone().into_record()).await?;
                tx.insert(claim.clone()).await?;
                tokio_yield().await;
                tx.commit().await.map(|_| ())
            };
            let res = attempt.await;
            (claim, marker, res)
        }
    });
    let results = futures::future::join_all(tasks).await;
    let mut winners = 0;
    for (claim, marker, res) in &results {
        let kept = get(store, t, claim.kind(), claim.id()).await;
        let marker_kept = get(store, t, EntityKind::Contact, marker.id.as_uuid()).await.is_some();
        if res.is_ok() {
            winners += 1;
            assert_eq!(kept.as_ref(), Some(claim), "the winning {field} claim is stored");
            assert!(marker_kept, "the winning transaction's other insert is stored");
        } else {
            assert_duplicate(res, field, &format!("a losing {field} claim"));
            assert_eq!(kept, None, "a losing {field} claim left its record behind");
            assert!(!marker_kept, "a losing {field} claim left its other insert behind");
        }
    }
    assert_eq!(winners, 1, "exactly one of {n} concurrent {field} claims commits");
    let kind = results[0].0.kind();
    let mut tx = store.begin(t, TxMode::ReadOnly).await.expect("begin");
    assert_eq!(tx.count(kind, &Filter::All).await.expect("count"), 1, "one {kind} holds the {field}");
}

/// 8 transactions claim the same unique key at once (all open before any writes, inserts
/// overlapping, commits racing): exactly one commits, the others fail with `Duplicate` (not
/// `Conflict`: the contract says a racing commit is a `Validation` error) and write nothing.
/// Done for a SKU in different ASCII cases (in two tenants at once, each of which admits one),
/// the default pipeline and a campaign member.
pub async fn concurrent_unique_claims_admit_one(store: Arc<dyn Store>) {
    const N: usize = 8;
    let s = &store;
    let skus = |t: TenantId| -> Vec<Record> {
        (0..N)
            .map(|i| {
                let mut p = product(t, ["Race-1", "RACE-1", "race-1", " Race-1"][i % 4]);
                p.external_refs = vec![ExternalRef::new("shop", format!("p-{i}"))];
                p.into_record()
            })
            .collect()
    };
    let (t, u) = (tenant(), tenant());
    futures::join!(race(s, t, "sku", skus(t)), race(s, u, "sku", skus(u)));

    let t = tenant();
    race(s, t, "is_default", (0..N).map(|_| pipeline(t).into_record()).collect()).await;

    let t = tenant();
    let c = contact(t, "Popular", "");
    let camp = campaign(t, "Launch", None);
    put_all(s, t, vec![c.clone().into_record(), camp.clone().into_record()]).await;
    race(s, t, "contact_id", (0..N).map(|_| campaign_member(t, camp.id, c.id).into_record()).collect()).await;
}
