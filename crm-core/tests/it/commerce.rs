//! Commerce rules proved through the public service API: the product catalogue, line items and
//! their totals, orders, invoices, payments, credit terms and limits, and the refusal to sum money
//! in different currencies.
//!
//! Every rejection is checked for its error variant and the field it names and — through
//! [`Env::refused`] — that the refused call wrote nothing: no record changed, no event appended.

use chrono::{Duration, NaiveDate};
use crm_core::prelude::*;
use crm_core::query::{Filter, Query};
use uuid::Uuid;

use crate::common::*;
use crm_core::model::{
    AccountBalance, AppliedPayment, CreditTerms, DEFAULT_NET_DAYS, ExternalRef, FieldDefinition, FieldType,
    PaymentApplication, Totals,
};

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// 2 × 50.00 USD at 19 % tax: 100.00 + 19.00 = 119.00.
fn widgets() -> LineItem {
    line("Widget", "2", usd("50.00")).tax_rate(dec("19"))
}

/// A sent invoice of 119.00 USD to `who`.
async fn sent_invoice(cx: &Session, who: ContactId) -> Invoice {
    let inv = cx.invoices().create(NewInvoice::for_contact(who).line(widgets())).await.unwrap();
    cx.invoices().send(inv.id).await.unwrap()
}

fn payment(amount: Money, on: NaiveDate) -> NewPayment {
    NewPayment::new(amount, on, PaymentMethod::BankTransfer)
}

// ---------------------------------------------------------------------------------------------
// Products
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn products_need_a_sku_a_name_a_price_and_a_tax_rate_in_range() {
    let env = env();
    let cx = env.cx();
    let tea = || NewProduct::new("TEA-1", "Green tea", eur("12.50"));

    let err = env.refused(cx.products().create(NewProduct::new("  ", "Green tea", eur("1")))).await;
    assert_only_field(&err, "sku", FieldErrorCode::Required);
    let err = env.refused(cx.products().create(NewProduct::new("X".repeat(65), "Tea", eur("1")))).await;
    assert_only_field(&err, "sku", FieldErrorCode::OutOfRange);
    let err = env.refused(cx.products().create(NewProduct::new("TEA\u{7}1", "Tea", eur("1")))).await;
    assert_only_field(&err, "sku", FieldErrorCode::InvalidFormat);
    let err = env.refused(cx.products().create(NewProduct::new("TEA-1", " ", eur("1")))).await;
    assert_only_field(&err, "name", FieldErrorCode::Required);
    let err = env.refused(cx.products().create(NewProduct::new("TEA-1", "Tea", eur("-0.01")))).await;
    assert_only_field(&err, "unit_price", FieldErrorCode::OutOfRange);
    let err = env.refused(cx.products().create(tea().tax_rate(dec("100.01")))).await;
    assert_only_field(&err, "tax_rate", FieldErrorCode::OutOfRange);
    let err = env.refused(cx.products().create(tea().tax_rate(dec("-1")))).await;
    assert_only_field(&err, "tax_rate", FieldErrorCode::OutOfRange);
    let err = env.refused(cx.products().create(tea().external_ref("shop", "1").external_ref(" SHOP ", "1"))).await;
    assert_only_field(&err, "external_refs[1]", FieldErrorCode::Duplicate);
    let err = env.refused(cx.products().create(tea().custom("origin", "Japan"))).await;
    assert_only_field(&err, "custom.origin", FieldErrorCode::UnknownField);
    // Several problems at once are all reported.
    let err = env.refused(cx.products().create(NewProduct::new("", "", eur("-1")).tax_rate(dec("200")))).await;
    for field in ["sku", "name", "unit_price", "tax_rate"] {
        assert!(err.names_field(field), "{field} not named in {err}");
    }

    let seq = env.last_seq().await;
    let p = cx
        .products()
        .create(tea().tax_rate(dec("7")).description("  Sencha  ").tag("tea").external_ref(" Shop ", "sku-1"))
        .await
        .unwrap();
    assert_eq!((p.sku.as_str(), p.name.as_str(), p.description.as_deref()), ("TEA-1", "Green tea", Some("Sencha")));
    assert_eq!((p.unit_price, p.tax_rate, p.active, p.version), (eur("12.50"), dec("7"), true, 1));
    assert_eq!(p.external_refs, vec![ExternalRef::new("shop", "sku-1")], "systems are lower-cased");
    assert_eq!(cx.products().get(p.id).await.unwrap(), p);
    assert_eq!(changes(&env.events_since(seq).await), vec![(EntityKind::Product, Change::Created)]);

    // Zero-priced and tax-free products are fine.
    let free = cx.products().create(NewProduct::new("SAMPLE", "Sample", eur("0")).inactive()).await.unwrap();
    assert!(!free.active);
}

#[tokio::test]
async fn a_sku_is_unique_per_tenant_whatever_its_case() {
    let env = env();
    let cx = env.cx();
    let tea = cx.products().create(NewProduct::new("TEA-1", "Green tea", eur("12"))).await.unwrap();

    let err = env.refused(cx.products().create(NewProduct::new(" tea-1 ", "Other tea", eur("3")))).await;
    assert_only_field(&err, "sku", FieldErrorCode::Duplicate);
    let err = env.refused(cx.products().create(NewProduct::new("TEA-1", "Same", eur("3")))).await;
    assert_only_field(&err, "sku", FieldErrorCode::Duplicate);

    // A longer SKU sharing the prefix is another SKU; so is the same SKU in another tenant.
    let tea10 = cx.products().create(NewProduct::new("TEA-10", "Black tea", eur("9"))).await.unwrap();
    let theirs =
        env.cx_of(tenant_b()).products().create(NewProduct::new("tea-1", "Their tea", usd("1"))).await.unwrap();

    assert_eq!(cx.products().by_sku(" Tea-1 ").await.unwrap().map(|p| p.id), Some(tea.id));
    assert_eq!(cx.products().by_sku("tea-10").await.unwrap().map(|p| p.id), Some(tea10.id));
    assert_eq!(env.cx_of(tenant_b()).products().by_sku("TEA-1").await.unwrap().map(|p| p.id), Some(theirs.id));
    assert!(cx.products().by_sku("TEA").await.unwrap().is_none(), "whole SKUs only");
    assert!(env.cx_of(tenant_b()).products().by_sku("TEA-10").await.unwrap().is_none());

    // Renaming onto a taken SKU is refused; changing only the case of one's own is not.
    let mut clash = tea10.clone();
    clash.sku = "Tea-1".into();
    let err = env.refused(cx.products().update(clash)).await;
    assert_only_field(&err, "sku", FieldErrorCode::Duplicate);
    let mut recased = tea.clone();
    recased.sku = "tea-1".into();
    let recased = cx.products().update(recased).await.unwrap();
    assert_eq!((recased.sku.as_str(), recased.version), ("tea-1", 2));

    // Once a SKU is freed, it can be used again.
    cx.products().delete(tea.id, 2).await.unwrap();
    let again = cx.products().create(NewProduct::new("TEA-1", "New green tea", eur("13"))).await.unwrap();
    assert_eq!(cx.products().by_sku("tea-1").await.unwrap().map(|p| p.id), Some(again.id));

    // External ids are unique per tenant too.
    cx.products().create(NewProduct::new("MUG", "Mug", eur("5")).external_ref("shop", "77")).await.unwrap();
    let err =
        env.refused(cx.products().create(NewProduct::new("CUP", "Cup", eur("5")).external_ref("shop", "77"))).await;
    assert_only_field(&err, "external_refs", FieldErrorCode::Duplicate);
    let found = cx.products().list(&Query::new(Filter::contains("external_refs", "shop:77"))).await.unwrap();
    assert_eq!(found.items.iter().map(|p| p.sku.as_str()).collect::<Vec<_>>(), vec!["MUG"]);
}

#[tokio::test]
async fn products_carry_custom_fields_and_can_be_deactivated() {
    let env = env();
    let cx = env.cx();
    cx.custom_fields()
        .define(FieldDefinition::new(EntityKind::Product, "origin", "Origin", FieldType::Text))
        .await
        .unwrap();
    let err = env.refused(cx.products().create(NewProduct::new("TEA-1", "Tea", eur("1")).custom("origin", 12))).await;
    assert_only_field(&err, "custom.origin", FieldErrorCode::TypeMismatch);
    let p = cx.products().create(NewProduct::new("TEA-1", "Tea", eur("1")).custom("origin", "Shizuoka")).await.unwrap();
    assert_eq!(p.custom.get("origin"), Some(&Value::Text("Shizuoka".into())));

    let seq = env.last_seq().await;
    let mut off = p.clone();
    off.active = false;
    off.unit_price = eur("1.20");
    let off = cx.products().update(off).await.unwrap();
    assert!(!off.active);
    assert_eq!(
        changes(&env.events_since(seq).await),
        vec![(EntityKind::Product, Change::Updated { fields: vec!["active".into(), "unit_price".into()] })]
    );
    let inactive = cx.products().count(&Filter::eq("active", false)).await.unwrap();
    assert_eq!(inactive, 1);

    let mut bad = off.clone();
    bad.tax_rate = dec("150");
    let err = env.refused(cx.products().update(bad)).await;
    assert_only_field(&err, "tax_rate", FieldErrorCode::OutOfRange);
}

// ---------------------------------------------------------------------------------------------
// Line items and totals
// ---------------------------------------------------------------------------------------------

#[test]
fn line_totals_round_per_line_half_away_from_zero() {
    // 3 × 19.99 = 59.97, less 10 % = 53.973 → 53.97; 19 % tax of 53.97 = 10.2543 → 10.25.
    let l = line("Widget", "3", eur("19.99")).discount(dec("10")).tax_rate(dec("19"));
    assert_eq!((l.total(), l.tax(), l.gross()), (eur("53.97"), eur("10.25"), eur("64.22")));
    // Exactly half a cent rounds away from zero: 0.5 × 0.01 = 0.005 → 0.01.
    let half = line("Half", "0.5", eur("0.01"));
    assert_eq!(half.total(), eur("0.01"));
    // Zero minor digits: 3 × 333.5 JPY = 1000.5 → 1001; 10 % tax = 100.1 → 100.
    let yen = line("Yen", "3", Money::new(dec("333.5"), Currency::JPY)).tax_rate(dec("10"));
    assert_eq!((yen.total().amount, yen.tax().amount), (dec("1001"), dec("100")));
    assert_eq!(yen.total().amount.scale(), 0);
    // Three minor digits: 1.2345 KWD → 1.235 (half away from zero); 5 % tax = 0.06175 → 0.062.
    let kwd = line("Dinar", "1", Money::new(dec("1.2345"), Currency::KWD)).tax_rate(dec("5"));
    assert_eq!((kwd.total().amount.to_string(), kwd.tax().amount.to_string()), ("1.235".into(), "0.062".into()));
    // A full discount is free.
    assert_eq!(line("Gift", "4", eur("9.99")).discount(dec("100")).total(), eur("0.00"));

    // Document totals are sums of the rounded lines, not the rounded sum: 3 × 0.005 → 0.03.
    let crumbs = vec![line("a", "0.5", eur("0.01")); 3];
    let t = Totals::of(&crumbs, Currency::EUR).unwrap();
    assert_eq!((t.subtotal, t.tax, t.total), (eur("0.03"), eur("0"), eur("0.03")));
    let t = Totals::of(&[l.clone(), half.clone()], Currency::EUR).unwrap();
    assert_eq!((t.subtotal, t.tax, t.total), (eur("53.98"), eur("10.25"), eur("64.23")));
    assert_eq!(Totals::of(&[], Currency::JPY).unwrap(), Totals::zero(Currency::JPY));

    // Mixed currencies are refused, naming the first line in the wrong one.
    let err = Totals::of(&[l.clone(), line("x", "1", usd("1")), line("y", "1", usd("2"))], Currency::EUR).unwrap_err();
    assert_eq!((err.field.as_str(), err.code), ("lines[1].unit_price", FieldErrorCode::CurrencyMismatch));
    let err = Totals::of(&[l], Currency::USD).unwrap_err();
    assert_eq!(err.field, "lines[0].unit_price");
}

#[tokio::test]
async fn deal_line_items_reference_products_and_keep_their_terms() {
    let env = env();
    let cx = env.cx();
    let tea =
        cx.products().create(NewProduct::new("TEA-1", "Green tea", usd("19.99")).tax_rate(dec("19"))).await.unwrap();
    let old = cx.products().create(NewProduct::new("OLD-1", "Old tea", usd("5")).inactive()).await.unwrap();
    let theirs = env.cx_of(tenant_b()).products().create(NewProduct::new("B-1", "B", usd("1"))).await.unwrap();
    let missing = ProductId::from_uuid(Uuid::from_u128(404));

    let err = env.refused(cx.deals().create(NewDeal::new("D").line_item(LineItem::for_product(&old, dec("1"))))).await;
    assert_only_field(&err, "line_items[0].product_id", FieldErrorCode::Rule);
    let ghost = LineItem { product_id: Some(missing), ..line("Ghost", "1", usd("1")) };
    let err = env.refused(cx.deals().create(NewDeal::new("D").line_item(ghost))).await;
    assert_only_field(&err, "line_items[0].product_id", FieldErrorCode::NotFound);
    let err =
        env.refused(cx.deals().create(NewDeal::new("D").line_item(LineItem::for_product(&theirs, dec("1"))))).await;
    assert_only_field(&err, "line_items[0].product_id", FieldErrorCode::NotFound);
    let err = env
        .refused(
            cx.deals().create(
                NewDeal::new("D")
                    .line_item(LineItem::for_product(&tea, dec("0")))
                    .line_item(LineItem::for_product(&tea, dec("1")).discount(dec("101"))),
            ),
        )
        .await;
    assert_field(&err, "line_items[0].quantity", FieldErrorCode::OutOfRange);
    assert_field(&err, "line_items[1].discount_percent", FieldErrorCode::OutOfRange);
    assert_eq!(err.field_errors().len(), 2);

    // The line takes the product's SKU, name, price and tax rate; the amount is the net total.
    let by_id_only = LineItem { product_id: Some(tea.id), ..line("Tea, bulk", "10", usd("18.00")) };
    let deal = cx
        .deals()
        .create(
            NewDeal::new("Tea order")
                .line_item(LineItem::for_product(&tea, dec("3")).discount(dec("10")))
                .line_item(by_id_only),
        )
        .await
        .unwrap();
    let l0 = &deal.line_items[0];
    assert_eq!(
        (l0.product_id, l0.sku.as_deref(), l0.name.as_str(), l0.unit_price, l0.tax_rate),
        (Some(tea.id), Some("TEA-1"), "Green tea", usd("19.99"), dec("19"))
    );
    assert_eq!(deal.line_items[1].sku.as_deref(), Some("TEA-1"), "a missing SKU is filled in from the product");
    // 53.97 + 180.00
    assert_eq!(deal.amount, Some(usd("233.97")));

    // Repricing or retiring the product leaves existing lines alone, and the deal stays editable.
    let mut tea2 = tea.clone();
    tea2.unit_price = usd("25.00");
    tea2.active = false;
    cx.products().update(tea2).await.unwrap();
    let mut d = cx.deals().get(deal.id).await.unwrap();
    assert_eq!(d.line_items[0].unit_price, usd("19.99"));
    d.name = "Tea order (renamed)".into();
    let d = cx.deals().update(d).await.unwrap();
    assert_eq!(d.amount, Some(usd("233.97")));
    // …but a new line for the now inactive product is refused.
    let mut more = d.clone();
    more.line_items.push(LineItem::for_product(&cx.products().get(tea.id).await.unwrap(), dec("1")));
    let err = env.refused(cx.deals().update(more)).await;
    assert_only_field(&err, "line_items[2].product_id", FieldErrorCode::Rule);

    // Deleting the product keeps what the lines say.
    let tea_now = cx.products().get(tea.id).await.unwrap();
    cx.products().delete(tea.id, tea_now.version).await.unwrap();
    let d = cx.deals().get(deal.id).await.unwrap();
    assert_eq!((d.line_items[0].sku.as_deref(), d.line_items[0].name.as_str()), (Some("TEA-1"), "Green tea"));
    let mut renamed = d.clone();
    renamed.name = "Still editable".into();
    let d = cx.deals().update(renamed).await.unwrap();
    let mut more = d.clone();
    more.line_items.insert(0, d.line_items[1].clone());
    let err = env.refused(cx.deals().update(more)).await;
    assert_only_field(&err, "line_items[2].product_id", FieldErrorCode::NotFound);
    // Dropping a line of a deleted product is fine.
    let mut fewer = d.clone();
    fewer.line_items.remove(0);
    assert_eq!(cx.deals().update(fewer).await.unwrap().amount, Some(usd("180.00")));
}

#[tokio::test]
async fn draft_orders_and_invoices_take_no_new_lines_of_retired_products() {
    let env = env();
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;
    let tea = cx.products().create(NewProduct::new("TEA-1", "Green tea", usd("10"))).await.unwrap();
    let order =
        cx.orders().create(NewOrder::for_contact(ann.id).line(LineItem::for_product(&tea, dec("2")))).await.unwrap();
    let invoice = cx
        .invoices()
        .create(NewInvoice::for_contact(ann.id).line(LineItem::for_product(&tea, dec("2"))))
        .await
        .unwrap();
    let mut retired = tea.clone();
    retired.active = false;
    let retired = cx.products().update(retired).await.unwrap();

    let err = env
        .refused(cx.orders().create(NewOrder::for_contact(ann.id).line(LineItem::for_product(&retired, dec("1")))))
        .await;
    assert_only_field(&err, "lines[0].product_id", FieldErrorCode::Rule);
    // The existing line may change; a second one for the retired product may not.
    let mut o = order.clone();
    o.lines[0].quantity = dec("3");
    let o = cx.orders().update(o).await.unwrap();
    assert_eq!(o.total, usd("30.00"));
    let mut o2 = o.clone();
    o2.lines.push(LineItem::for_product(&retired, dec("1")));
    let err = env.refused(cx.orders().update(o2)).await;
    assert_only_field(&err, "lines[1].product_id", FieldErrorCode::Rule);
    let mut i = invoice.clone();
    i.lines.push(LineItem::for_product(&retired, dec("1")));
    let err = env.refused(cx.invoices().update(i)).await;
    assert_only_field(&err, "lines[1].product_id", FieldErrorCode::Rule);
    // The order with its retired product's line can still be placed.
    assert_eq!(cx.orders().place(o.id).await.unwrap().status, OrderStatus::Placed);
}

#[tokio::test]
async fn money_in_mixed_currencies_is_refused_wherever_it_would_be_summed() {
    let env = env();
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;

    // Money itself.
    let err = usd("1").checked_add(&eur("1")).unwrap_err();
    assert_only_field(&err, "currency", FieldErrorCode::CurrencyMismatch);
    assert_eq!(usd("1").checked_add(&usd("2.50")).unwrap(), usd("3.50"));
    // Deal line items, with and without an amount to agree with.
    let mixed = NewDeal::new("D").line_item(line("a", "1", usd("1"))).line_item(line("b", "1", eur("1")));
    let err = env.refused(cx.deals().create(mixed)).await;
    assert_only_field(&err, "line_items", FieldErrorCode::CurrencyMismatch);
    let err =
        env.refused(cx.deals().create(NewDeal::new("D").amount(eur("5")).line_item(line("a", "1", usd("1"))))).await;
    assert_only_field(&err, "line_items[0].unit_price", FieldErrorCode::CurrencyMismatch);
    // Order and invoice lines, on creation and on update of a draft.
    let err = env
        .refused(cx.orders().create(NewOrder::for_contact(ann.id).line(widgets()).line(line("b", "1", eur("1")))))
        .await;
    assert_only_field(&err, "lines[1].unit_price", FieldErrorCode::CurrencyMismatch);
    let order = cx.orders().create(NewOrder::for_contact(ann.id).line(widgets())).await.unwrap();
    let mut o = order.clone();
    o.lines.push(line("b", "1", Money::new(dec("100"), Currency::JPY)));
    assert_only_field(
        &env.refused(cx.orders().update(o)).await,
        "lines[1].unit_price",
        FieldErrorCode::CurrencyMismatch,
    );
    let err = env
        .refused(cx.invoices().create(
            NewInvoice::for_contact(ann.id).line(line("K", "1", Money::new(dec("1"), Currency::KWD))).line(widgets()),
        ))
        .await;
    assert_only_field(&err, "lines[1].unit_price", FieldErrorCode::CurrencyMismatch);
    // Payments: the applied part, the payment and the invoice share one currency.
    let inv = sent_invoice(&cx, ann.id).await;
    let err = env
        .refused(cx.payments().record(payment(eur("119"), env.today()).from_contact(ann.id).apply(inv.id, eur("119"))))
        .await;
    assert_only_field(&err, "apply_to[0].amount", FieldErrorCode::CurrencyMismatch);
    // A changed currency on a draft must match its lines; switching both is fine.
    let mut o = cx.orders().get(order.id).await.unwrap();
    o.currency = Currency::EUR;
    o.lines = vec![line("Widget", "2", eur("50")).tax_rate(dec("19"))];
    let o = cx.orders().update(o).await.unwrap();
    assert_eq!((o.currency, o.subtotal, o.tax, o.total), (Currency::EUR, eur("100.00"), eur("19.00"), eur("119.00")));
}

// ---------------------------------------------------------------------------------------------
// Orders
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn orders_are_refused_without_a_customer_a_currency_or_consistent_lines() {
    let env = env();
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;
    let their_co = env.cx_of(tenant_b()).companies().create(NewCompany::new("Theirs")).await.unwrap();
    let new = || NewOrder::for_contact(ann.id);

    let err = env.refused(cx.orders().create(NewOrder::default().line(widgets()))).await;
    assert_only_field(&err, "contact_id", FieldErrorCode::Required);
    let err = env.refused(cx.orders().create(new())).await;
    assert_only_field(&err, "currency", FieldErrorCode::Required);
    let err = env.refused(cx.orders().create(new().currency(Currency::EUR).line(widgets()))).await;
    assert_only_field(&err, "lines[0].unit_price", FieldErrorCode::CurrencyMismatch);
    let err = env.refused(cx.orders().create(new().line(widgets()).line(line("Setup", "1", eur("10"))))).await;
    assert_only_field(&err, "lines[1].unit_price", FieldErrorCode::CurrencyMismatch);
    let err = env
        .refused(cx.orders().create(new().line(line(" ", "-1", usd("-2")).discount(dec("-5")).tax_rate(dec("101")))))
        .await;
    for field in ["name", "quantity", "unit_price", "discount_percent", "tax_rate"] {
        assert!(err.names_field(&format!("lines[0].{field}")), "lines[0].{field} not named in {err}");
    }
    let err = env.refused(cx.orders().create(NewOrder::for_company(their_co.id).line(widgets()))).await;
    assert_only_field(&err, "company_id", FieldErrorCode::NotFound);
    let nobody = ContactId::from_uuid(Uuid::from_u128(404));
    let err = env.refused(cx.orders().create(NewOrder::for_contact(nobody).line(widgets()))).await;
    assert_only_field(&err, "contact_id", FieldErrorCode::NotFound);
    let err = env.refused(cx.orders().create(new().line(widgets()).deal(DealId::from_uuid(Uuid::from_u128(9))))).await;
    assert_only_field(&err, "deal_id", FieldErrorCode::NotFound);
    let err = env
        .refused(cx.orders().create(new().line(widgets()).campaign(CampaignId::from_uuid(Uuid::from_u128(9)))))
        .await;
    assert_only_field(&err, "campaign_id", FieldErrorCode::NotFound);
    let err = env.refused(cx.orders().create(new().currency(Currency::USD).placed())).await;
    assert_only_field(&err, "lines", FieldErrorCode::Required);
    let err = env.refused(cx.orders().create(new().line(widgets()).placed_at(env.now() + Duration::minutes(1)))).await;
    assert_only_field(&err, "placed_at", FieldErrorCode::OutOfRange);
    let err = env.refused(cx.orders().create(new().line(widgets()).number("  "))).await;
    assert_only_field(&err, "number", FieldErrorCode::Required);

    cx.orders().create(new().line(widgets()).number("SO-1")).await.unwrap();
    let err = env.refused(cx.orders().create(new().line(widgets()).number(" SO-1 "))).await;
    assert_only_field(&err, "number", FieldErrorCode::Duplicate);
    // Numbers are per tenant.
    let bob = contact(&env.cx_of(tenant_b()), "Bob").await;
    env.cx_of(tenant_b()).orders().create(NewOrder::for_contact(bob.id).line(widgets()).number("SO-1")).await.unwrap();
}

#[tokio::test]
async fn an_order_totals_its_lines_and_fixes_them_once_placed() {
    let env = env();
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;
    let acme = cx.companies().create(NewCompany::new("Acme")).await.unwrap();
    let seq = env.last_seq().await;
    let order = cx
        .orders()
        .create(
            NewOrder::for_contact(ann.id)
                .company(acme.id)
                .line(widgets())
                .line(line("Setup", "1.5", usd("80.33")))
                .paid_by(PaymentMethod::BankTransfer)
                .tag("web")
                .notes("  leave at the door  "),
        )
        .await
        .unwrap();
    // 100.00 + 120.495→120.50; tax 19.00 + 0.
    assert_eq!((order.subtotal, order.tax, order.total), (usd("220.50"), usd("19.00"), usd("239.50")));
    assert_eq!((order.status, order.currency, order.placed_at), (OrderStatus::Draft, Currency::USD, None));
    assert_eq!((order.contact_id, order.company_id), (Some(ann.id), Some(acme.id)));
    assert_eq!(order.notes.as_deref(), Some("leave at the door"));
    assert!(order.number.starts_with("SO-"), "{}", order.number);
    assert_eq!(changes(&env.events_since(seq).await), vec![(EntityKind::Order, Change::Created)]);

    // A draft's lines change, and the totals follow; totals written by the caller are ignored.
    let seq = env.last_seq().await;
    let mut draft = order.clone();
    draft.lines.remove(1);
    draft.total = usd("1.00");
    let draft = cx.orders().update(draft).await.unwrap();
    assert_eq!((draft.subtotal, draft.tax, draft.total), (usd("100.00"), usd("19.00"), usd("119.00")));
    assert_eq!(
        changes(&env.events_since(seq).await),
        vec![(EntityKind::Order, Change::Updated { fields: vec!["lines".into()] })],
        "totals follow the lines quietly"
    );
    let mut tampered = draft.clone();
    tampered.total = usd("1.00");
    let same = cx.orders().update(tampered).await.unwrap();
    assert_eq!((same.total, same.version), (usd("119.00"), draft.version), "nothing to save");

    // Status and its times change only through the status methods.
    let mut jump = draft.clone();
    jump.status = OrderStatus::Paid;
    assert_transition(&env.refused(cx.orders().update(jump)).await, "status", "draft", "paid");
    let mut stamp = draft.clone();
    stamp.placed_at = Some(env.now());
    assert!(env.refused(cx.orders().update(stamp)).await.names_field("placed_at"));
    // Each guarded field is reported with its own old and new value, not the status.
    let mut paid_at = draft.clone();
    paid_at.paid_at = Some(t0());
    let at = serde_json::to_value(t0()).unwrap();
    assert_transition(&env.refused(cx.orders().update(paid_at)).await, "paid_at", "none", at.as_str().unwrap());

    env.advance(Duration::hours(1));
    let seq = env.last_seq().await;
    let placed = cx.orders().place(order.id).await.unwrap();
    assert_eq!((placed.status, placed.placed_at), (OrderStatus::Placed, Some(env.now())));
    let evs = env.events_since(seq).await;
    assert_eq!(changes(&evs), vec![(EntityKind::Order, Change::OrderPlaced { total: usd("119.00") })]);
    assert!(evs[0].event.related.contains(&EntityRef::new(EntityKind::Contact, ann.id)));
    assert!(evs[0].event.related.contains(&EntityRef::new(EntityKind::Company, acme.id)));

    let mut more = placed.clone();
    more.lines.push(line("Extra", "1", usd("1")));
    let err = env.refused(cx.orders().update(more)).await;
    assert_only_field(&err, "lines", FieldErrorCode::ReadOnly);
    let mut recur = placed.clone();
    recur.currency = Currency::EUR;
    assert!(env.refused(cx.orders().update(recur)).await.names_field("lines"));
    // Other fields still change.
    let mut noted = placed.clone();
    noted.notes = Some("gift wrap".into());
    assert_eq!(cx.orders().update(noted).await.unwrap().notes.as_deref(), Some("gift wrap"));

    // An order placed on creation says so.
    let seq = env.last_seq().await;
    let now = cx.orders().create(NewOrder::for_contact(ann.id).line(widgets()).placed()).await.unwrap();
    assert_eq!((now.status, now.placed_at), (OrderStatus::Placed, Some(env.now())));
    assert_eq!(
        changes(&env.events_since(seq).await),
        vec![(EntityKind::Order, Change::Created), (EntityKind::Order, Change::OrderPlaced { total: usd("119.00") })]
    );
}

#[tokio::test]
async fn order_status_moves_only_along_its_lifecycle() {
    let env = env();
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;
    let new = || NewOrder::for_contact(ann.id).line(widgets());

    let draft = cx.orders().create(new()).await.unwrap();
    for (call, to) in [
        (cx.orders().mark_paid(draft.id, None).await, "paid"),
        (cx.orders().fulfil(draft.id).await, "fulfilled"),
        (cx.orders().mark_returned(draft.id).await, "returned"),
    ] {
        assert_transition(&call.unwrap_err(), "status", "draft", to);
    }
    assert_transition(&env.refused(cx.orders().fulfil(draft.id)).await, "status", "draft", "fulfilled");
    let empty = cx.orders().create(NewOrder::for_contact(ann.id).currency(Currency::USD)).await.unwrap();
    let err = env.refused(cx.orders().place(empty.id)).await;
    assert_only_field(&err, "lines", FieldErrorCode::Required);

    // placed → paid → fulfilled → returned, each stamped and announced.
    let o = cx.orders().create(new().placed()).await.unwrap();
    env.advance(Duration::hours(1));
    let seq = env.last_seq().await;
    let paid = cx.orders().mark_paid(o.id, Some(PaymentMethod::Card)).await.unwrap();
    assert_eq!(
        (paid.status, paid.paid_at, paid.payment_method),
        (OrderStatus::Paid, Some(env.now()), Some(PaymentMethod::Card))
    );
    env.advance(Duration::hours(1));
    let done = cx.orders().fulfil(o.id).await.unwrap();
    assert_eq!((done.status, done.fulfilled_at), (OrderStatus::Fulfilled, Some(env.now())));
    env.advance(Duration::hours(1));
    let back = cx.orders().mark_returned(o.id).await.unwrap();
    assert_eq!((back.status, back.returned_at), (OrderStatus::Returned, Some(env.now())));
    assert_eq!(
        changes(&env.events_since(seq).await),
        vec![
            (EntityKind::Order, status_changed("placed", "paid")),
            (EntityKind::Order, status_changed("paid", "fulfilled")),
            (EntityKind::Order, status_changed("fulfilled", "returned")),
        ]
    );
    // Returned is final.
    assert_transition(&env.refused(cx.orders().cancel(o.id)).await, "status", "returned", "cancelled");
    assert_transition(&env.refused(cx.orders().mark_paid(o.id, None)).await, "status", "returned", "paid");

    // Customers on terms: placed → fulfilled → paid; the method is kept when none is given.
    let terms = cx.orders().create(new().paid_by(PaymentMethod::BankTransfer).placed()).await.unwrap();
    cx.orders().fulfil(terms.id).await.unwrap();
    let paid = cx.orders().mark_paid(terms.id, None).await.unwrap();
    assert_eq!((paid.status, paid.payment_method), (OrderStatus::Paid, Some(PaymentMethod::BankTransfer)));
    // A fulfilled order cannot be cancelled, only returned.
    let shipped = cx.orders().create(new().placed()).await.unwrap();
    cx.orders().fulfil(shipped.id).await.unwrap();
    assert_transition(&env.refused(cx.orders().cancel(shipped.id)).await, "status", "fulfilled", "cancelled");

    // Cancelled is final; the same status again writes nothing.
    let c = cx.orders().cancel(draft.id).await.unwrap();
    assert_eq!((c.status, c.cancelled_at), (OrderStatus::Cancelled, Some(env.now())));
    assert_transition(&env.refused(cx.orders().place(draft.id)).await, "status", "cancelled", "placed");
    let before = env.state_of(tenant_a()).await;
    assert_eq!(cx.orders().cancel(draft.id).await.unwrap().version, c.version);
    assert_eq!(env.state_of(tenant_a()).await, before);

    // Placed orders are history: only draft and cancelled ones are deleted.
    let err = env.refused(cx.orders().delete(shipped.id, 3)).await;
    assert_only_field(&err, "status", FieldErrorCode::Rule);
    cx.orders().delete(draft.id, c.version).await.unwrap();
    assert_not_found(&cx.orders().get(draft.id).await.unwrap_err(), EntityKind::Order, draft.id);
    let d = cx.orders().create(new()).await.unwrap();
    cx.orders().delete(d.id, 1).await.unwrap();
    let missing = OrderId::from_uuid(Uuid::from_u128(404));
    assert_not_found(&env.refused(cx.orders().place(missing)).await, EntityKind::Order, missing);
}

#[tokio::test]
async fn purchase_history_is_imported_with_its_placing_time() {
    let env = env();
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;
    let bob = contact(&cx, "Bob").await;
    let last_year = t0() - Duration::days(365);
    let old = cx
        .orders()
        .create(NewOrder::for_contact(ann.id).line(widgets()).placed_at(last_year).external_ref("shopify", "1001"))
        .await
        .unwrap();
    assert_eq!((old.status, old.placed_at, old.created_at), (OrderStatus::Placed, Some(last_year), t0()));
    cx.orders().create(NewOrder::for_contact(ann.id).line(widgets()).placed()).await.unwrap();
    cx.orders().create(NewOrder::for_contact(bob.id).line(widgets()).placed()).await.unwrap();

    let anns =
        cx.orders().list(&Query::new(Filter::eq("contact_id", ann.id.as_uuid())).sort_asc("placed_at")).await.unwrap();
    assert_eq!(anns.items.len(), 2);
    assert_eq!(anns.items[0].id, old.id, "the imported order is the oldest");
    assert_eq!(cx.orders().count(&Filter::contains("external_refs", "shopify:1001")).await.unwrap(), 1);
    let err = env
        .refused(cx.orders().create(NewOrder::for_contact(bob.id).line(widgets()).external_ref("shopify", "1001")))
        .await;
    assert_only_field(&err, "external_refs", FieldErrorCode::Duplicate);
}

#[tokio::test]
async fn a_won_deal_becomes_an_order_once() {
    let env = env();
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;
    let acme = cx.companies().create(NewCompany::new("Acme")).await.unwrap();
    let owner = cx.users().create(NewUser::new("Olive Owner", "olive@acme.example")).await.unwrap().id;
    let tea =
        cx.products().create(NewProduct::new("TEA-1", "Green tea", usd("19.99")).tax_rate(dec("19"))).await.unwrap();
    let deal = cx
        .deals()
        .create(
            NewDeal::new("Tea for Acme")
                .contact(ann.id)
                .company(acme.id)
                .owner(owner)
                .line_item(LineItem::for_product(&tea, dec("3")).discount(dec("10"))),
        )
        .await
        .unwrap();

    let err = env.refused(cx.orders().from_deal(deal.id)).await;
    assert_transition(&err, "deal_id", "open", "order");
    let missing = DealId::from_uuid(Uuid::from_u128(404));
    assert_not_found(&env.refused(cx.orders().from_deal(missing)).await, EntityKind::Deal, missing);

    cx.deals().win(deal.id).await.unwrap();
    let seq = env.last_seq().await;
    let order = cx.orders().from_deal(deal.id).await.unwrap();
    assert_eq!(order.status, OrderStatus::Placed);
    assert_eq!(
        (order.deal_id, order.contact_id, order.company_id, order.owner_id),
        (Some(deal.id), Some(ann.id), Some(acme.id), Some(owner))
    );
    assert_eq!(order.lines, deal.line_items, "the deal's lines become the order's");
    assert_eq!((order.subtotal, order.tax, order.total), (usd("53.97"), usd("10.25"), usd("64.22")));
    assert_eq!(
        changes(&env.events_since(seq).await),
        vec![(EntityKind::Order, Change::Created), (EntityKind::Order, Change::OrderPlaced { total: usd("64.22") })]
    );

    let err = env.refused(cx.orders().from_deal(deal.id)).await;
    assert_only_field(&err, "deal_id", FieldErrorCode::Duplicate);
    // Once that order is cancelled the deal can be ordered again.
    cx.orders().cancel(order.id).await.unwrap();
    let again = cx.orders().from_deal(deal.id).await.unwrap();
    assert_ne!(again.id, order.id);
    assert_eq!(cx.orders().count(&Filter::eq("deal_id", deal.id.as_uuid())).await.unwrap(), 2);

    // A deal without lines becomes one line for its amount.
    let flat = cx.deals().create(NewDeal::new("Flat fee").company(acme.id).amount(eur("1000"))).await.unwrap();
    cx.deals().win(flat.id).await.unwrap();
    let o = cx.orders().from_deal(flat.id).await.unwrap();
    assert_eq!(o.lines, vec![line("Flat fee", "1", eur("1000"))]);
    assert_eq!((o.currency, o.total, o.contact_id), (Currency::EUR, eur("1000.00"), None));

    // A won deal with nobody to bill is refused, naming the customer.
    let orphan = cx.deals().create(NewDeal::new("Nobody").amount(usd("5"))).await.unwrap();
    cx.deals().win(orphan.id).await.unwrap();
    let err = env.refused(cx.orders().from_deal(orphan.id)).await;
    assert_only_field(&err, "contact_id", FieldErrorCode::Required);
    // A lost deal is no order either.
    let lost = cx.deals().create(NewDeal::new("Lost").contact(ann.id).amount(usd("5"))).await.unwrap();
    cx.deals().lose(lost.id, "price").await.unwrap();
    assert_transition(&env.refused(cx.orders().from_deal(lost.id)).await, "deal_id", "lost", "order");
}

// ---------------------------------------------------------------------------------------------
// Credit terms and limits
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn credit_terms_are_checked() {
    let env = env();
    let cx = env.cx();
    let err =
        env.refused(cx.contacts().create(NewContact::new("Ann", "Lee").credit_terms(CreditTerms::net(3651)))).await;
    assert_only_field(&err, "credit_terms.net_days", FieldErrorCode::OutOfRange);
    let err = env
        .refused(cx.companies().create(NewCompany::new("Acme").credit_terms(CreditTerms::net(30).limit(usd("-1")))))
        .await;
    assert_only_field(&err, "credit_terms.credit_limit", FieldErrorCode::OutOfRange);
    let co = cx
        .companies()
        .create(NewCompany::new("Acme").credit_terms(CreditTerms::net(45).limit(usd("0"))))
        .await
        .unwrap();
    assert_eq!(co.credit_terms, Some(CreditTerms { net_days: 45, credit_limit: Some(usd("0")) }));
}

#[tokio::test]
async fn orders_on_terms_must_fit_within_the_credit_limit() {
    let env = env();
    let cx = env.cx();
    let acme = cx
        .companies()
        .create(NewCompany::new("Acme").credit_terms(CreditTerms::net(30).limit(usd("300"))))
        .await
        .unwrap();
    let ann = cx.contacts().create(NewContact::new("Ann", "Lee").works_at(acme.id, None, None)).await.unwrap();
    // 119.00 already owed.
    let inv = cx.invoices().create(NewInvoice::for_company(acme.id).line(widgets())).await.unwrap();
    cx.invoices().send(inv.id).await.unwrap();

    // 119 + 238 = 357 > 300: refused on creation and on placing.
    let big = || NewOrder::for_company(acme.id).line(widgets()).line(widgets());
    let err = env.refused(cx.orders().create(big().placed())).await;
    assert_only_field(&err, "total", FieldErrorCode::Rule);
    let err = env.refused(cx.orders().create(big().paid_by(PaymentMethod::BankTransfer).placed())).await;
    assert_only_field(&err, "total", FieldErrorCode::Rule);
    let draft = cx.orders().create(big()).await.unwrap();
    let err = env.refused(cx.orders().place(draft.id)).await;
    assert_only_field(&err, "total", FieldErrorCode::Rule);
    // Paid on the spot creates no debt.
    for m in [PaymentMethod::Card, PaymentMethod::Cash, PaymentMethod::PayPal] {
        cx.orders().create(big().paid_by(m).placed()).await.unwrap();
    }
    // The contact at the company is bound by the company's terms, and exactly the limit fits:
    // 119 + 181 = 300.
    let exact = line("Rest", "1", usd("181"));
    let err = env
        .refused(
            cx.orders()
                .create(NewOrder::for_contact(ann.id).company(acme.id).line(line("Rest", "1", usd("181.01"))).placed()),
        )
        .await;
    assert_only_field(&err, "total", FieldErrorCode::Rule);
    cx.orders().create(NewOrder::for_contact(ann.id).company(acme.id).line(exact).placed()).await.unwrap();
    // Paying the invoice frees the credit again.
    cx.payments()
        .record(payment(usd("119"), env.today()).from_company(acme.id).apply(inv.id, usd("119")))
        .await
        .unwrap();
    cx.orders().place(draft.id).await.unwrap();
    // Limits apply to debt in their own currency only.
    cx.orders().create(NewOrder::for_company(acme.id).line(line("Euro", "1", eur("5000"))).placed()).await.unwrap();

    // Without a company, the contact's own terms apply.
    let solo = cx
        .contacts()
        .create(NewContact::new("Solo", "Buyer").credit_terms(CreditTerms::net(7).limit(usd("100"))))
        .await
        .unwrap();
    let err = env.refused(cx.orders().create(NewOrder::for_contact(solo.id).line(widgets()).placed())).await;
    assert_only_field(&err, "total", FieldErrorCode::Rule);
    cx.orders().create(NewOrder::for_contact(solo.id).line(line("Small", "1", usd("100"))).placed()).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Invoices
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn invoices_are_refused_with_bad_customers_dates_or_lines() {
    let env = env();
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;
    let new = || NewInvoice::for_contact(ann.id).line(widgets());

    let err = env.refused(cx.invoices().create(NewInvoice::default().line(widgets()))).await;
    assert_only_field(&err, "contact_id", FieldErrorCode::Required);
    let err = env.refused(cx.invoices().create(NewInvoice::for_contact(ann.id))).await;
    assert_only_field(&err, "currency", FieldErrorCode::Required);
    let err = env.refused(cx.invoices().create(new().line(line("Euro", "1", eur("1"))))).await;
    assert_only_field(&err, "lines[1].unit_price", FieldErrorCode::CurrencyMismatch);
    let err = env.refused(cx.invoices().create(new().currency(Currency::GBP))).await;
    assert_only_field(&err, "lines[0].unit_price", FieldErrorCode::CurrencyMismatch);
    let err = env.refused(cx.invoices().create(new().issued(date(2026, 3, 10)).due(date(2026, 3, 9)))).await;
    assert_only_field(&err, "due_date", FieldErrorCode::OutOfRange);
    let err = env
        .refused(cx.invoices().create(NewInvoice { order_id: Some(OrderId::from_uuid(Uuid::from_u128(1))), ..new() }))
        .await;
    assert_only_field(&err, "order_id", FieldErrorCode::NotFound);
    let err = env.refused(cx.invoices().create(new().deal(DealId::from_uuid(Uuid::from_u128(1))))).await;
    assert_only_field(&err, "deal_id", FieldErrorCode::NotFound);
    let err = env.refused(cx.invoices().create(new().custom("po", "123"))).await;
    assert_only_field(&err, "custom.po", FieldErrorCode::UnknownField);

    cx.invoices().create(new().number("INV-1").external_ref("xero", "abc")).await.unwrap();
    let err = env.refused(cx.invoices().create(new().number("INV-1"))).await;
    assert_only_field(&err, "number", FieldErrorCode::Duplicate);
    let err = env.refused(cx.invoices().create(new().external_ref("XERO", "abc"))).await;
    assert_only_field(&err, "external_refs", FieldErrorCode::Duplicate);
    assert_eq!(cx.invoices().count(&Filter::contains("external_refs", "xero:abc")).await.unwrap(), 1);
}

#[tokio::test]
async fn the_due_date_follows_the_customers_credit_terms() {
    let env = env();
    let cx = env.cx();
    let today = env.today();
    let plain = contact(&cx, "Plain").await;
    let fast = cx.contacts().create(NewContact::new("Fast", "Payer").credit_terms(CreditTerms::net(14))).await.unwrap();
    let acme = cx.companies().create(NewCompany::new("Acme").credit_terms(CreditTerms::net(60))).await.unwrap();

    let due = |i: Invoice| (i.issue_date, i.due_date);
    let inv = cx.invoices().create(NewInvoice::for_contact(plain.id).line(widgets())).await.unwrap();
    assert_eq!(due(inv.clone()), (today, today + Duration::days(i64::from(DEFAULT_NET_DAYS))));
    assert_eq!(
        (inv.subtotal, inv.tax, inv.total, inv.amount_paid),
        (usd("100.00"), usd("19.00"), usd("119.00"), usd("0"))
    );
    assert_eq!((inv.status, inv.balance_due()), (InvoiceStatus::Draft, usd("119.00")));
    assert!(inv.number.starts_with("INV-"), "{}", inv.number);
    let inv = cx.invoices().create(NewInvoice::for_contact(fast.id).line(widgets())).await.unwrap();
    assert_eq!(due(inv), (today, today + Duration::days(14)));
    // The company's terms win over the contact's.
    let inv = cx
        .invoices()
        .create(NewInvoice { company_id: Some(acme.id), ..NewInvoice::for_contact(fast.id).line(widgets()) })
        .await
        .unwrap();
    assert_eq!(due(inv), (today, today + Duration::days(60)));
    // Terms count from the issue date; an explicit due date wins.
    let inv =
        cx.invoices().create(NewInvoice::for_contact(fast.id).line(widgets()).issued(date(2026, 1, 31))).await.unwrap();
    assert_eq!(due(inv), (date(2026, 1, 31), date(2026, 2, 14)));
    let inv =
        cx.invoices().create(NewInvoice::for_contact(fast.id).line(widgets()).due(date(2026, 12, 24))).await.unwrap();
    assert_eq!(due(inv), (today, date(2026, 12, 24)));
}

#[tokio::test]
async fn an_invoice_is_fixed_once_sent_and_changes_status_only_through_its_methods() {
    let env = env();
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;
    let empty = cx.invoices().create(NewInvoice::for_contact(ann.id).currency(Currency::USD)).await.unwrap();
    let err = env.refused(cx.invoices().send(empty.id)).await;
    assert_only_field(&err, "lines", FieldErrorCode::Required);

    // A draft changes freely.
    let mut d = cx.invoices().get(empty.id).await.unwrap();
    d.lines.push(widgets());
    d.due_date = date(2026, 4, 30);
    let d = cx.invoices().update(d).await.unwrap();
    assert_eq!((d.total, d.due_date), (usd("119.00"), date(2026, 4, 30)));
    let mut early = d.clone();
    early.due_date = date(2026, 1, 1);
    assert_only_field(&env.refused(cx.invoices().update(early)).await, "due_date", FieldErrorCode::OutOfRange);
    let mut bad = d.clone();
    bad.lines.push(line("Euro", "1", eur("1")));
    assert_only_field(
        &env.refused(cx.invoices().update(bad)).await,
        "lines[1].unit_price",
        FieldErrorCode::CurrencyMismatch,
    );
    let mut recur = d.clone();
    recur.currency = Currency::EUR;
    assert_only_field(
        &env.refused(cx.invoices().update(recur)).await,
        "lines[0].unit_price",
        FieldErrorCode::CurrencyMismatch,
    );

    env.advance(Duration::hours(2));
    let seq = env.last_seq().await;
    let sent = cx.invoices().send(d.id).await.unwrap();
    assert_eq!((sent.status, sent.sent_at), (InvoiceStatus::Sent, Some(env.now())));
    assert_eq!(changes(&env.events_since(seq).await), vec![(EntityKind::Invoice, status_changed("draft", "sent"))]);
    assert_transition(&env.refused(cx.invoices().send(d.id)).await, "status", "sent", "sent");

    // Issued invoices are fixed…
    for (field, edit) in [
        ("lines", Box::new(|i: &mut Invoice| i.lines.push(widgets())) as Box<dyn Fn(&mut Invoice)>),
        ("due_date", Box::new(|i: &mut Invoice| i.due_date = date(2026, 5, 1))),
        ("issue_date", Box::new(|i: &mut Invoice| i.issue_date = date(2026, 3, 1))),
        ("number", Box::new(|i: &mut Invoice| i.number = "INV-NEW".into())),
        ("contact_id", Box::new(|i: &mut Invoice| i.contact_id = None)),
    ] {
        let mut x = sent.clone();
        edit(&mut x);
        let err = env.refused(cx.invoices().update(x)).await;
        assert_field(&err, field, FieldErrorCode::ReadOnly);
    }
    // …their status, payments and paid amount never change directly…
    let mut x = sent.clone();
    x.status = InvoiceStatus::Paid;
    assert_transition(&env.refused(cx.invoices().update(x)).await, "status", "sent", "paid");
    let mut x = sent.clone();
    x.amount_paid = usd("119");
    assert!(env.refused(cx.invoices().update(x)).await.names_field("amount_paid"));
    // …but notes do.
    let mut x = sent.clone();
    x.notes = Some("Thanks!".into());
    assert_eq!(cx.invoices().update(x).await.unwrap().notes.as_deref(), Some("Thanks!"));

    // Only drafts are deleted; issued invoices are voided.
    let err = env.refused(cx.invoices().delete(sent.id, 3)).await;
    assert_only_field(&err, "status", FieldErrorCode::Rule);
    let draft = cx.invoices().create(NewInvoice::for_contact(ann.id).line(widgets())).await.unwrap();
    cx.invoices().delete(draft.id, 1).await.unwrap();
    assert_not_found(&cx.invoices().get(draft.id).await.unwrap_err(), EntityKind::Invoice, draft.id);
}

#[tokio::test]
async fn void_clears_what_is_owed_unless_something_was_paid() {
    let env = env();
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;
    let inv = sent_invoice(&cx, ann.id).await;
    let seq = env.last_seq().await;
    let void = cx.invoices().void(inv.id).await.unwrap();
    assert_eq!((void.status, void.voided_at, void.balance_due()), (InvoiceStatus::Void, Some(env.now()), usd("0")));
    assert_eq!(changes(&env.events_since(seq).await), vec![(EntityKind::Invoice, status_changed("sent", "void"))]);
    // Voiding again writes nothing.
    let before = env.state_of(tenant_a()).await;
    cx.invoices().void(inv.id).await.unwrap();
    assert_eq!(env.state_of(tenant_a()).await, before);
    // A void invoice takes no payments.
    let err = env
        .refused(cx.payments().record(payment(usd("10"), env.today()).from_contact(ann.id).apply(inv.id, usd("10"))))
        .await;
    assert_only_field(&err, "apply_to[0]", FieldErrorCode::Rule);

    let part = sent_invoice(&cx, ann.id).await;
    cx.payments().record(payment(usd("10"), env.today()).from_contact(ann.id).apply(part.id, usd("10"))).await.unwrap();
    assert_transition(&env.refused(cx.invoices().void(part.id)).await, "status", "partially_paid", "void");
    // Drafts can be voided too.
    let draft = cx.invoices().create(NewInvoice::for_contact(ann.id).line(widgets())).await.unwrap();
    assert_eq!(cx.invoices().void(draft.id).await.unwrap().status, InvoiceStatus::Void);
}

#[tokio::test]
async fn an_order_is_invoiced_and_paying_the_invoice_pays_the_order() {
    let env = env();
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;
    let draft = cx.orders().create(NewOrder::for_contact(ann.id).line(widgets())).await.unwrap();
    let err = env.refused(cx.invoices().from_order(draft.id)).await;
    assert_only_field(&err, "order_id", FieldErrorCode::Rule);
    let missing = OrderId::from_uuid(Uuid::from_u128(404));
    assert_not_found(&env.refused(cx.invoices().from_order(missing)).await, EntityKind::Order, missing);

    let order = cx.orders().place(draft.id).await.unwrap();
    let inv = cx.invoices().from_order(order.id).await.unwrap();
    assert_eq!((inv.order_id, inv.contact_id, inv.company_id), (Some(order.id), Some(ann.id), None));
    assert_eq!((&inv.lines, inv.total, inv.status), (&order.lines, order.total, InvoiceStatus::Draft));
    cx.invoices().send(inv.id).await.unwrap();

    env.advance(Duration::days(3));
    let seq = env.last_seq().await;
    let p = cx
        .payments()
        .record(
            NewPayment::new(usd("119"), env.today(), PaymentMethod::Cheque)
                .from_contact(ann.id)
                .apply(inv.id, usd("119")),
        )
        .await
        .unwrap();
    let paid = cx.invoices().get(inv.id).await.unwrap();
    assert_eq!((paid.status, paid.paid_on, paid.balance_due()), (InvoiceStatus::Paid, Some(env.today()), usd("0")));
    assert_eq!(paid.days_to_pay(), Some(3));
    let order = cx.orders().get(order.id).await.unwrap();
    assert_eq!(
        (order.status, order.paid_at, order.payment_method),
        (OrderStatus::Paid, Some(env.now()), Some(PaymentMethod::Cheque))
    );
    assert_eq!(
        changes(&env.events_since(seq).await),
        vec![
            (EntityKind::Payment, Change::Created),
            (EntityKind::Invoice, Change::PaymentApplied { payment_id: p.id, amount: usd("119") }),
            (EntityKind::Invoice, status_changed("sent", "paid")),
            (EntityKind::Order, status_changed("placed", "paid")),
        ]
    );
    // A returned or cancelled order is not invoiced.
    cx.orders().mark_returned(order.id).await.unwrap();
    assert_only_field(&env.refused(cx.invoices().from_order(order.id)).await, "order_id", FieldErrorCode::Rule);
}

// ---------------------------------------------------------------------------------------------
// Payments
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn payments_are_applied_up_to_the_invoice_balance() {
    let env = env();
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;
    let inv = sent_invoice(&cx, ann.id).await;
    let today = env.today();

    let seq = env.last_seq().await;
    let p1 = cx
        .payments()
        .record(payment(usd("50"), today).from_contact(ann.id).reference(" TX-1 ").apply(inv.id, usd("50")))
        .await
        .unwrap();
    assert_eq!((p1.amount, p1.unapplied(), p1.reference.as_deref()), (usd("50"), usd("0"), Some("TX-1")));
    assert_eq!(p1.applications, vec![PaymentApplication { invoice_id: inv.id, amount: usd("50") }]);
    let part = cx.invoices().get(inv.id).await.unwrap();
    assert_eq!(
        (part.status, part.amount_paid, part.balance_due()),
        (InvoiceStatus::PartiallyPaid, usd("50"), usd("69.00"))
    );
    assert_eq!(
        part.payments,
        vec![AppliedPayment {
            payment_id: p1.id,
            paid_on: today,
            amount: usd("50"),
            method: PaymentMethod::BankTransfer
        }]
    );
    assert_eq!(part.paid_on, None);
    let evs = env.events_since(seq).await;
    assert_eq!(
        changes(&evs),
        vec![
            (EntityKind::Payment, Change::Created),
            (EntityKind::Invoice, Change::PaymentApplied { payment_id: p1.id, amount: usd("50") }),
            (EntityKind::Invoice, status_changed("sent", "partially_paid")),
        ]
    );
    assert!(evs[1].event.related.contains(&EntityRef::new(EntityKind::Contact, ann.id)));

    // Not a cent beyond the balance — and the refused payment is not recorded at all.
    let err = env
        .refused(cx.payments().record(payment(usd("100"), today).from_contact(ann.id).apply(inv.id, usd("69.01"))))
        .await;
    assert_only_field(&err, "apply_to[0].amount", FieldErrorCode::OutOfRange);
    // Two parts on one invoice count together.
    let err = env
        .refused(
            cx.payments().record(
                payment(usd("100"), today).from_contact(ann.id).apply(inv.id, usd("40")).apply(inv.id, usd("30")),
            ),
        )
        .await;
    assert_only_field(&err, "apply_to[1].amount", FieldErrorCode::OutOfRange);

    // The rest settles it; what is left over stays as credit.
    env.advance(Duration::days(10));
    let p2 = cx
        .payments()
        .record(payment(usd("100"), env.today()).from_contact(ann.id).apply(inv.id, usd("40")).apply(inv.id, usd("29")))
        .await
        .unwrap();
    assert_eq!(p2.unapplied(), usd("31"));
    let paid = cx.invoices().get(inv.id).await.unwrap();
    assert_eq!((paid.status, paid.amount_paid, paid.balance_due()), (InvoiceStatus::Paid, usd("119"), usd("0.00")));
    assert_eq!((paid.paid_on, paid.days_to_pay()), (Some(env.today()), Some(10)));
    assert_eq!(paid.payments.len(), 3);
    assert_eq!(cx.payments().count(&Filter::gt("unapplied", 0)).await.unwrap(), 1);

    // A paid invoice takes nothing more.
    let err = env.refused(cx.payments().apply(p2.id, inv.id, usd("1"))).await;
    assert_only_field(&err, "apply_to[0]", FieldErrorCode::Rule);

    // The credit goes to the next invoice through `apply`, but only as much as is left.
    let next = sent_invoice(&cx, ann.id).await;
    let err = env.refused(cx.payments().apply(p2.id, next.id, usd("31.01"))).await;
    assert_only_field(&err, "apply_to[0].amount", FieldErrorCode::OutOfRange);
    let seq = env.last_seq().await;
    let p2 = cx.payments().apply(p2.id, next.id, usd("31")).await.unwrap();
    assert_eq!((p2.unapplied(), p2.applications.len()), (usd("0"), 3));
    assert_eq!(
        changes(&env.events_since(seq).await),
        vec![
            (EntityKind::Invoice, Change::PaymentApplied { payment_id: p2.id, amount: usd("31") }),
            (EntityKind::Invoice, status_changed("sent", "partially_paid")),
        ]
    );
    let next = cx.invoices().get(next.id).await.unwrap();
    assert_eq!(next.payments[0].paid_on, p2.received_on, "applied credit counts from the day it was received");
    let missing = PaymentId::from_uuid(Uuid::from_u128(404));
    assert_not_found(&env.refused(cx.payments().apply(missing, next.id, usd("1"))).await, EntityKind::Payment, missing);
}

#[tokio::test]
async fn every_bad_payment_is_refused_naming_the_field() {
    let env = env();
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;
    let bob = contact(&cx, "Bob").await;
    let inv = sent_invoice(&cx, ann.id).await;
    let bobs = sent_invoice(&cx, bob.id).await;
    let draft = cx.invoices().create(NewInvoice::for_contact(ann.id).line(widgets())).await.unwrap();
    let euro = cx.invoices().create(NewInvoice::for_contact(ann.id).line(line("E", "1", eur("50")))).await.unwrap();
    let euro = cx.invoices().send(euro.id).await.unwrap();
    let today = env.today();
    let pay = |m: Money| payment(m, today).from_contact(ann.id);

    let err = env.refused(cx.payments().record(pay(usd("0")))).await;
    assert_only_field(&err, "amount", FieldErrorCode::OutOfRange);
    let err = env.refused(cx.payments().record(pay(usd("-5")))).await;
    assert_only_field(&err, "amount", FieldErrorCode::OutOfRange);
    let err =
        env.refused(cx.payments().record(payment(usd("5"), today + Duration::days(1)).from_contact(ann.id))).await;
    assert_only_field(&err, "received_on", FieldErrorCode::OutOfRange);
    let err = env.refused(cx.payments().record(payment(usd("5"), today))).await;
    assert_only_field(&err, "contact_id", FieldErrorCode::Required);
    let nobody = CompanyId::from_uuid(Uuid::from_u128(404));
    let err = env.refused(cx.payments().record(payment(usd("5"), today).from_company(nobody))).await;
    assert_only_field(&err, "company_id", FieldErrorCode::NotFound);
    let err = env.refused(cx.payments().record(pay(usd("5")).reference("x".repeat(201)))).await;
    assert_only_field(&err, "reference", FieldErrorCode::OutOfRange);

    let missing = InvoiceId::from_uuid(Uuid::from_u128(404));
    let err = env.refused(cx.payments().record(pay(usd("5")).apply(missing, usd("5")))).await;
    assert_only_field(&err, "apply_to[0]", FieldErrorCode::NotFound);
    let err = env.refused(cx.payments().record(pay(usd("5")).apply(inv.id, usd("0")))).await;
    assert_only_field(&err, "apply_to[0].amount", FieldErrorCode::OutOfRange);
    let err = env.refused(cx.payments().record(pay(usd("5")).apply(draft.id, usd("5")))).await;
    assert_only_field(&err, "apply_to[0]", FieldErrorCode::Rule);
    let err = env.refused(cx.payments().record(pay(usd("5")).apply(bobs.id, usd("5")))).await;
    assert_only_field(&err, "apply_to[0]", FieldErrorCode::Rule);
    // More than the payment itself.
    let err = env.refused(cx.payments().record(pay(usd("50")).apply(inv.id, usd("50.01")))).await;
    assert_only_field(&err, "apply_to[0].amount", FieldErrorCode::OutOfRange);

    // Mixed currencies: the part must be in the invoice's currency and the payment's.
    let err = env.refused(cx.payments().record(pay(usd("50")).apply(euro.id, eur("10")))).await;
    assert_only_field(&err, "apply_to[0].amount", FieldErrorCode::CurrencyMismatch);
    let err = env.refused(cx.payments().record(pay(usd("50")).apply(euro.id, usd("10")))).await;
    assert_only_field(&err, "apply_to[0].amount", FieldErrorCode::CurrencyMismatch);
    let err = env.refused(cx.payments().record(pay(eur("50")).apply(inv.id, eur("10")))).await;
    assert_only_field(&err, "apply_to[0].amount", FieldErrorCode::CurrencyMismatch);

    // A multi-part payment with one bad part writes nothing: no payment, no invoice touched.
    let before_inv = cx.invoices().get(inv.id).await.unwrap();
    let err = env
        .refused(
            cx.payments().record(
                pay(usd("300"))
                    .apply(inv.id, usd("100"))
                    .apply(euro.id, eur("10"))
                    .apply(bobs.id, usd("10"))
                    .apply(inv.id, usd("20")),
            ),
        )
        .await;
    assert_field(&err, "apply_to[1].amount", FieldErrorCode::CurrencyMismatch);
    assert_field(&err, "apply_to[2]", FieldErrorCode::Rule);
    assert_field(&err, "apply_to[3].amount", FieldErrorCode::OutOfRange);
    assert!(!err.names_field("apply_to[0].amount") && !err.names_field("apply_to[0]"));
    assert_eq!(err.field_errors().len(), 3);
    assert_eq!(cx.invoices().get(inv.id).await.unwrap(), before_inv);
    assert_eq!(cx.payments().count(&Filter::All).await.unwrap(), 0);
    // Parts over two invoices that together exceed the payment.
    let second = sent_invoice(&cx, ann.id).await;
    let err =
        env.refused(cx.payments().record(pay(usd("100")).apply(inv.id, usd("60")).apply(second.id, usd("60")))).await;
    assert_only_field(&err, "apply_to[1].amount", FieldErrorCode::OutOfRange);
    assert_eq!(cx.invoices().get(second.id).await.unwrap().amount_paid, usd("0"));

    // The same parts within the payment go through, on both invoices.
    let p = cx.payments().record(pay(usd("120")).apply(inv.id, usd("60")).apply(second.id, usd("60"))).await.unwrap();
    assert_eq!(p.unapplied(), usd("0"));
    let f = Filter::contains("invoice_ids", second.id.as_uuid());
    assert_eq!(
        cx.payments().list(&Query::new(f)).await.unwrap().items.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![p.id]
    );
    // A company pays its own invoices, whichever of its people they are addressed to.
    let acme = cx.companies().create(NewCompany::new("Acme")).await.unwrap();
    let co_inv = cx.invoices().create(NewInvoice::for_company(acme.id).contact(ann.id).line(widgets())).await.unwrap();
    cx.invoices().send(co_inv.id).await.unwrap();
    cx.payments().record(payment(usd("1"), today).from_company(acme.id).apply(co_inv.id, usd("1"))).await.unwrap();
    cx.payments().record(pay(usd("1")).apply(co_inv.id, usd("1"))).await.unwrap();
    assert_eq!(cx.invoices().get(co_inv.id).await.unwrap().amount_paid, usd("2"));
}

#[tokio::test]
async fn invoices_past_due_become_overdue_and_stay_so_until_paid() {
    let env = env();
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;
    let a = cx.invoices().create(NewInvoice::for_contact(ann.id).line(widgets()).due(date(2026, 3, 10))).await.unwrap();
    let a = cx.invoices().send(a.id).await.unwrap();
    let b = cx.invoices().create(NewInvoice::for_contact(ann.id).line(widgets()).due(date(2026, 3, 20))).await.unwrap();
    let b = cx.invoices().send(b.id).await.unwrap();
    let c = cx.invoices().create(NewInvoice::for_contact(ann.id).line(widgets()).due(date(2026, 3, 10))).await.unwrap();
    let paid = sent_invoice(&cx, ann.id).await; // due in 30 days, paid in full
    cx.payments()
        .record(payment(usd("119"), env.today()).from_contact(ann.id).apply(paid.id, usd("119")))
        .await
        .unwrap();
    cx.payments().record(payment(usd("19"), env.today()).from_contact(ann.id).apply(b.id, usd("19"))).await.unwrap();

    // On the due date nothing is overdue yet.
    assert!(cx.invoices().mark_overdue(date(2026, 3, 10)).await.unwrap().is_empty());
    let seq = env.last_seq().await;
    let late = cx.invoices().mark_overdue(date(2026, 3, 11)).await.unwrap();
    assert_eq!(late.iter().map(|i| i.id).collect::<Vec<_>>(), vec![a.id], "not the draft, not the later one");
    assert_eq!(changes(&env.events_since(seq).await), vec![(EntityKind::Invoice, status_changed("sent", "overdue"))]);
    assert_eq!(cx.invoices().get(c.id).await.unwrap().status, InvoiceStatus::Draft);
    // Running it again changes nothing.
    let before = env.state_of(tenant_a()).await;
    assert!(cx.invoices().mark_overdue(date(2026, 3, 11)).await.unwrap().is_empty());
    assert_eq!(env.state_of(tenant_a()).await, before);
    // A partly paid invoice goes overdue too.
    let late = cx.invoices().mark_overdue(date(2026, 3, 21)).await.unwrap();
    assert_eq!(late.iter().map(|i| (i.id, i.status)).collect::<Vec<_>>(), vec![(b.id, InvoiceStatus::Overdue)]);

    // Part payment keeps it overdue; the last payment settles it.
    env.advance(Duration::days(15));
    cx.payments().record(payment(usd("100"), env.today()).from_contact(ann.id).apply(a.id, usd("100"))).await.unwrap();
    assert_eq!(cx.invoices().get(a.id).await.unwrap().status, InvoiceStatus::Overdue);
    let seq = env.last_seq().await;
    let p = cx
        .payments()
        .record(payment(usd("19"), env.today()).from_contact(ann.id).apply(a.id, usd("19")))
        .await
        .unwrap();
    let a = cx.invoices().get(a.id).await.unwrap();
    assert_eq!((a.status, a.days_to_pay()), (InvoiceStatus::Paid, Some(15)));
    assert_eq!(
        changes(&env.events_since(seq).await),
        vec![
            (EntityKind::Payment, Change::Created),
            (EntityKind::Invoice, Change::PaymentApplied { payment_id: p.id, amount: usd("19") }),
            (EntityKind::Invoice, status_changed("overdue", "paid")),
        ]
    );
}

#[tokio::test]
async fn a_customers_credit_facts_are_derived_from_invoices_and_payments() {
    let env = env();
    let cx = env.cx();
    let acme = cx
        .companies()
        .create(NewCompany::new("Acme").credit_terms(CreditTerms::net(10).limit(usd("1000"))))
        .await
        .unwrap();
    let ann = cx.contacts().create(NewContact::new("Ann", "Lee").works_at(acme.id, None, None)).await.unwrap();
    let bill = |due: NaiveDate| NewInvoice::for_company(acme.id).line(widgets()).due(due);

    // Two invoices paid after 4 and 9 days; one overdue, partly paid; one not yet due; one in EUR.
    let i1 = cx.invoices().create(bill(date(2026, 3, 12))).await.unwrap();
    let i2 = cx.invoices().create(bill(date(2026, 3, 12))).await.unwrap();
    let i3 = cx.invoices().create(bill(date(2026, 3, 5))).await.unwrap();
    let i4 = cx.invoices().create(bill(date(2026, 4, 30))).await.unwrap();
    let i5 = cx.invoices().create(NewInvoice::for_company(acme.id).line(line("E", "1", eur("40")))).await.unwrap();
    let draft = cx.invoices().create(bill(date(2026, 4, 30))).await.unwrap();
    for i in [&i1, &i2, &i3, &i4, &i5] {
        cx.invoices().send(i.id).await.unwrap();
    }
    env.advance(Duration::days(4));
    cx.payments()
        .record(payment(usd("119"), env.today()).from_company(acme.id).apply(i1.id, usd("119")))
        .await
        .unwrap();
    env.advance(Duration::days(5));
    cx.payments()
        .record(
            payment(usd("200"), env.today())
                .from_company(acme.id)
                .from_contact(ann.id)
                .apply(i2.id, usd("119"))
                .apply(i3.id, usd("20")),
        )
        .await
        .unwrap();
    assert_eq!(cx.invoices().get(draft.id).await.unwrap().status, InvoiceStatus::Draft);

    // Today is 2026-03-11: i3 (due 03-05) is overdue by its balance, even before the sweep runs.
    let s = cx.customer_360(acme.id).await.unwrap().summary;
    assert_eq!(s.balance_due.get(&Currency::USD), Some(&dec("218.00")), "99 on i3 + 119 on i4");
    assert_eq!(s.balance_due.get(&Currency::EUR), Some(&dec("40.00")), "currencies are never summed together");
    assert_eq!(s.overdue.get(&Currency::USD), Some(&dec("99.00")));
    assert_eq!(s.overdue.get(&Currency::EUR), None);
    assert_eq!(s.average_days_to_pay, Some(dec("6.50")));
    assert_eq!(s.unapplied_credit.get(&Currency::USD), Some(&dec("61")));
    assert_eq!(s.credit_terms, Some(CreditTerms::net(10).limit(usd("1000"))));
    assert_eq!(s.available_credit, Some(usd("782.00")));
    // The contact sees what is addressed to her or paid by her.
    let mine = cx.customer_360(ann.id).await.unwrap();
    assert_eq!(mine.payments.len(), 1);
    assert_eq!(mine.summary.credit_terms, Some(CreditTerms::net(10).limit(usd("1000"))), "her employer's terms");
}

/// A won deal's lines become an order (and that order an invoice) even when a product on them
/// was retired after the deal was made; new lines for the retired product stay refused.
#[tokio::test]
async fn lines_carried_from_a_source_document_keep_retired_products() {
    let env = env();
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;
    let tea = cx.products().create(NewProduct::new("TEA-9", "Old tea", usd("5.00"))).await.unwrap();
    let deal = cx
        .deals()
        .create(NewDeal::new("Old tea for Ann").contact(ann.id).line_item(LineItem::for_product(&tea, dec("2"))))
        .await
        .unwrap();
    cx.deals().win(deal.id).await.unwrap();
    let mut retired = cx.products().get(tea.id).await.unwrap();
    retired.active = false;
    let retired = cx.products().update(retired).await.unwrap();

    let order = cx.orders().from_deal(deal.id).await.unwrap();
    assert_eq!(order.lines, deal.line_items);
    let invoice = cx.invoices().from_order(order.id).await.unwrap();
    assert_eq!(invoice.lines, order.lines);
    assert_eq!(invoice.total, usd("10.00"));

    let err = env
        .refused(cx.orders().create(NewOrder::for_contact(ann.id).line(LineItem::for_product(&retired, dec("1")))))
        .await;
    assert!(err.names_field("lines[0].product_id"), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// The shared record operations and input builders
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_payment_is_deleted_only_while_nothing_of_it_is_applied() {
    let env = env();
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;
    let inv = sent_invoice(&cx, ann.id).await;
    let today = env.today();
    let applied =
        cx.payments().record(payment(usd("50"), today).from_contact(ann.id).apply(inv.id, usd("50"))).await.unwrap();
    let err = env.refused(cx.payments().delete(applied.id, applied.version)).await;
    assert_only_field(&err, "applications", FieldErrorCode::Rule);
    assert_eq!(cx.invoices().get(inv.id).await.unwrap().amount_paid, usd("50"), "the invoice keeps its payment");

    // Credit nobody used yet may be taken back; the payment is gone and counted no more.
    let credit = cx.payments().record(payment(usd("20"), today).from_contact(ann.id)).await.unwrap();
    let seq = env.last_seq().await;
    cx.payments().delete(credit.id, credit.version).await.unwrap();
    assert_not_found(&cx.payments().get(credit.id).await.unwrap_err(), EntityKind::Payment, credit.id);
    assert_eq!(changes(&env.events_since(seq).await), vec![(EntityKind::Payment, Change::Deleted)]);
    assert_eq!(cx.payments().count(&Filter::eq("contact_id", ann.id)).await.unwrap(), 1);
    // A stale version is a conflict, and writes nothing.
    let other = cx.payments().record(payment(usd("5"), today).from_contact(ann.id)).await.unwrap();
    let err = env.refused(cx.payments().delete(other.id, other.version + 1)).await;
    assert!(matches!(err, Error::Conflict { .. }), "got {err:?}");
}

#[tokio::test]
async fn every_input_field_has_its_setter() {
    let env = env();
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;
    let acme = cx.companies().create(NewCompany::new("Acme")).await.unwrap();
    let order = cx.orders().create(NewOrder::for_contact(ann.id).line(widgets()).placed()).await.unwrap();
    // The company and order of an invoice had no setters before the inputs were declared once.
    let input = NewInvoice::for_contact(ann.id).company(acme.id).order(order.id).line(widgets()).notes("Q3");
    assert_eq!((input.company_id, input.order_id), (Some(acme.id), Some(order.id)));
    let inv = cx.invoices().create(input).await.unwrap();
    assert_eq!((inv.company_id, inv.order_id, inv.notes.as_deref()), (Some(acme.id), Some(order.id), Some("Q3")));
    // A task logged as done, and a company's balance as accounting reports it.
    let done = cx.activities().create(NewActivity::task("Call back", t0()).completed(t0())).await.unwrap();
    assert_eq!(done.completed_at, Some(t0()));
    let balance = AccountBalance { outstanding: usd("10"), overdue: usd("0"), as_of: t0() };
    let with = NewCompany::new("Initech").account_balance(balance);
    assert_eq!(cx.companies().create(with).await.unwrap().account_balance, Some(balance));
}

#[tokio::test]
async fn deleting_a_campaign_takes_its_members_with_it() {
    let env = env();
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;
    let spring = cx.campaigns().create(NewCampaign::new("Spring", CampaignChannel::Email)).await.unwrap();
    let member = cx.campaigns().add_contact(spring.id, ann.id).await.unwrap();
    let seq = env.last_seq().await;
    cx.campaigns().delete(spring.id, spring.version).await.unwrap();
    assert_eq!(
        changes(&env.events_since(seq).await),
        vec![(EntityKind::CampaignMember, Change::Deleted), (EntityKind::Campaign, Change::Deleted)]
    );
    assert!(cx.record(member.entity_ref()).await.unwrap().is_none());
    assert!(cx.contacts().get(ann.id).await.is_ok(), "the contact stays");
}

/// Every service call is `Send`, also inside a future that holds references across it (an
/// extension's `on_events`, a web handler): such a future can be spawned on a multi-thread runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_calls_can_be_spawned_while_borrowing() {
    let env = env();
    let cx = env.cx();
    let ann = contact(&cx, "Ann").await;
    let task = tokio::spawn(async move {
        let who = &ann.id;
        let c = cx.contacts().get(*who).await?;
        let deal = cx.deals().create(NewDeal::new("Rollout").contact(*who).amount(usd("900"))).await?;
        let deal = cx.deals().win(deal.id).await?;
        cx.activities().log(NewActivity::note("Signed").deal(deal.id).contact(c.id)).await?;
        let order = cx.orders().from_deal(deal.id).await?;
        let n = cx.activities().count(&Filter::eq("kind", ActivityKind::Note)).await?;
        let page = cx.contacts().list(&Query::new(Filter::All)).await?;
        cx.segments().create(NewSegment::new("All", Filter::All)).await?;
        Ok::<_, Error>((n, page.items.len(), order.total))
    });
    assert_eq!(task.await.unwrap().unwrap(), (1, 1, usd("900")));
}
