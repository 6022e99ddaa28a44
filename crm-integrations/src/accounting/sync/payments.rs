//! Payments mirrored read-only from accounting, listed on the invoices they paid.

use super::*;

impl Run<'_> {
    pub(super) async fn pull_payment(&mut self, rp: RemotePayment) -> Result<()> {
        if rp.deleted {
            self.skip(PAYMENT, &rp.id, "deleted in the accounting system");
            return Ok(());
        }
        let mut invoices: Vec<(Invoice, Decimal)> = Vec::new();
        for (remote_invoice, part) in &rp.applications {
            match self.mirrored_invoice(remote_invoice).await? {
                Some(inv) => invoices.push((inv, *part)),
                None => {
                    self.skip(PAYMENT, &rp.id, format!("its invoice {remote_invoice} is not synced"));
                    if let Some(at) = rp.updated_at {
                        self.held = Some(self.held.map_or(at, |h| h.min(at)));
                    }
                    return Ok(());
                }
            }
        }
        let Some((first, _)) = invoices.first() else {
            self.skip(PAYMENT, &rp.id, "it is not applied to any invoice");
            return Ok(());
        };
        let currency = rp.currency.unwrap_or(first.currency);
        let amount = Money::new(rp.amount, currency);
        let payment = NewPayment {
            contact_id: first.contact_id,
            company_id: first.company_id,
            reference: rp.reference.clone(),
            apply_to: invoices.iter().map(|(inv, part)| (inv.id, Money::new(*part, currency))).collect(),
            ..NewPayment::new(amount, rp.received_on, PaymentMethod::Other)
        };
        let input = ExternalPayment::new(self.system, rp.id.clone(), payment);
        let (payment, outcome) = match self.cx.payments().mirror(input).await {
            Ok(r) => r,
            Err(e) if is_refusal(&e) => {
                self.skip(PAYMENT, &rp.id, format!("the CRM refused it: {e}"));
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        self.report.payments.add(outcome);
        self.record_link(payment.entity_ref(), PAYMENT, &rp.id, rp.version.clone(), outcome).await?;
        // Systems that do not date full payment (QuickBooks): a paid invoice is paid on the
        // day of its last payment.
        for (inv, _) in invoices {
            let inv = self.cx.invoices().get(inv.id).await?;
            if inv.status == InvoiceStatus::Paid && inv.paid_on.is_none() {
                let Some(on) = inv.payments.iter().map(|p| p.paid_on).max() else { continue };
                let Some(ext) = inv.external_refs.iter().find(|r| r.system == self.system) else { continue };
                let input = ExternalInvoice {
                    system: self.system.into(),
                    external_id: ext.id.clone(),
                    number: inv.number.clone(),
                    contact_id: inv.contact_id,
                    company_id: inv.company_id,
                    currency: inv.currency,
                    lines: inv.lines.clone(),
                    subtotal: inv.subtotal.amount,
                    tax: inv.tax.amount,
                    total: inv.total.amount,
                    amount_paid: inv.amount_paid.amount,
                    status: inv.status,
                    issue_date: inv.issue_date,
                    due_date: inv.due_date,
                    paid_on: Some(on),
                    notes: inv.notes.clone(),
                };
                self.cx.invoices().mirror(input).await?;
            }
        }
        Ok(())
    }

    pub(super) async fn mirrored_invoice(&self, remote_id: &str) -> Result<Option<Invoice>> {
        let by_ref = Filter::contains("external_refs", format!("{}:{}", self.system, remote_id));
        Ok(self.cx.invoices().list(&Query::new(by_ref).limit(1)).await?.items.into_iter().next())
    }
}
