//! Invoices mirrored read-only from accounting.

use super::*;

impl Run<'_> {
    pub(super) fn status(&self, ri: &RemoteInvoice) -> InvoiceStatus {
        match ri.status {
            RemoteInvoiceStatus::Draft => InvoiceStatus::Draft,
            RemoteInvoiceStatus::Paid => InvoiceStatus::Paid,
            RemoteInvoiceStatus::Void => InvoiceStatus::Void,
            RemoteInvoiceStatus::Issued if ri.due_date < self.today && ri.total > ri.amount_paid => {
                InvoiceStatus::Overdue
            }
            RemoteInvoiceStatus::Issued if ri.amount_paid > Decimal::ZERO => InvoiceStatus::PartiallyPaid,
            RemoteInvoiceStatus::Issued => InvoiceStatus::Sent,
        }
    }

    pub(super) async fn pull_invoice(&mut self, ri: RemoteInvoice) -> Result<()> {
        let mut customer = self.cx.sync().link_for_remote(&self.conn, CUSTOMER, &ri.customer_id).await?;
        if customer.is_none() {
            // Created there after the customer pass read its pages: read it now.
            if let Some(rc) = self.connector.customer(&ri.customer_id).await? {
                self.pull_customer(rc).await?;
                customer = self.cx.sync().link_for_remote(&self.conn, CUSTOMER, &ri.customer_id).await?;
            }
        }
        let Some(customer) = customer else {
            self.skip(INVOICE, &ri.id, format!("its customer {} is not synced", ri.customer_id));
            return Ok(());
        };
        // Discount and credit lines (negative amounts) have no place among the CRM's line
        // items; the totals, which are accounting's, include them, and the notes say so.
        let (lines, signed): (Vec<_>, Vec<_>) =
            ri.lines.iter().partition(|l| l.quantity > Decimal::ZERO && l.unit_amount >= Decimal::ZERO);
        let lines = lines
            .into_iter()
            .map(|l| {
                let mut line = LineItem::new(l.description.clone(), l.quantity, Money::new(l.unit_amount, ri.currency));
                if l.line_amount > Decimal::ZERO {
                    line.tax_rate = l
                        .tax_amount
                        .checked_div(l.line_amount)
                        .and_then(|r| r.checked_mul(Decimal::ONE_HUNDRED))
                        .map(|r| r.round_dp(2))
                        .unwrap_or_default();
                }
                line
            })
            .collect();
        let input = ExternalInvoice {
            system: self.system.into(),
            external_id: ri.id.clone(),
            number: ri.number.clone(),
            contact_id: (customer.local.kind == EntityKind::Contact).then(|| ContactId::from_uuid(customer.local.id)),
            company_id: (customer.local.kind == EntityKind::Company).then(|| CompanyId::from_uuid(customer.local.id)),
            currency: ri.currency,
            lines,
            subtotal: ri.subtotal,
            tax: ri.tax,
            total: ri.total,
            amount_paid: ri.amount_paid,
            status: self.status(&ri),
            issue_date: ri.issue_date,
            due_date: ri.due_date,
            paid_on: ri.paid_on,
            notes: match (ri.reference.clone(), signed.len()) {
                (r, 0) => r,
                (r, n) => Some(
                    r.map(|r| format!("{r}\n")).unwrap_or_default()
                        + &format!("{n} discount or credit line(s) are kept in {}", self.system),
                ),
            },
        };
        let (invoice, outcome) = match self.cx.invoices().mirror(input).await {
            Ok(r) => r,
            Err(e) if is_refusal(&e) => {
                self.skip(INVOICE, &ri.id, format!("the CRM refused it: {e}"));
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        self.report.invoices.add(outcome);
        self.record_link(invoice.entity_ref(), INVOICE, &ri.id, ri.version.clone(), outcome).await
    }
}
