//! Customers both ways: pairing remote customers with companies and people, the three-way merge of shared fields, and pushing the CRM's customers.

use super::*;

impl Run<'_> {
    pub(super) fn normalise_email(&self, v: &Option<String>) -> Option<String> {
        v.as_deref().and_then(|e| Email::parse(e).ok()).map(|e| e.as_str().to_owned())
    }

    pub(super) fn normalise_phone(&self, v: &Option<String>) -> Option<String> {
        v.as_deref()
            .and_then(|p| PhoneNumber::parse(p, self.options.default_region.as_deref()).ok())
            .map(|p| p.as_str().to_owned())
    }

    /// The CRM record a remote customer is: by link, external reference, the CRM id the CRM
    /// wrote there, email, then phone. Never by name. Err(reason) when the match is ambiguous.
    pub(super) async fn find_party(
        &mut self,
        rc: &RemoteCustomer,
        email: &Option<String>,
        phone: &Option<String>,
    ) -> Result<std::result::Result<(Option<Party>, Option<SyncLink>), String>> {
        let sync = self.cx.sync();
        if let Some(link) = sync.link_for_remote(&self.conn, CUSTOMER, &rc.id).await? {
            match Party::load(self.cx, link.local).await? {
                Some(p) => return Ok(Ok((Some(p), Some(link)))),
                // The record was deleted here: forget the pairing and match afresh.
                None => sync.remove_link(link.id).await?,
            }
        }
        let by_ref = Filter::contains("external_refs", format!("{}:{}", self.system, rc.id));
        let by_ref_found = match self.cx.companies().list(&Query::new(by_ref.clone()).limit(1)).await?.items.pop() {
            Some(c) => Some(Party::Company(c)),
            None => self.cx.contacts().list(&Query::new(by_ref).limit(1)).await?.items.pop().map(Party::Contact),
        };
        if let Some(p) = by_ref_found {
            return match self.unlinked(p).await? {
                Some(p) => Ok(Ok((Some(p), None))),
                None => {
                    Ok(Err("the CRM record carrying its id is paired with another customer; link it by hand".into()))
                }
            };
        }
        if let Some(id) = rc.reference.as_deref().and_then(|r| uuid::Uuid::parse_str(r).ok()) {
            for kind in [EntityKind::Company, EntityKind::Contact] {
                if let Some(p) = Party::load(self.cx, EntityRef::new(kind, id)).await? {
                    return self.unlinked(p).await.map(|p| Ok((p, None)));
                }
            }
        }
        let mut candidates: Vec<Party> = Vec::new();
        let add = |p: Party, all: &mut Vec<Party>| {
            if !all.iter().any(|x| x.entity_ref() == p.entity_ref()) {
                all.push(p);
            }
        };
        for (field, value) in [("billing_email", email), ("phone", phone)] {
            let Some(v) = value else { continue };
            if !candidates.is_empty() {
                break;
            }
            let company_field = field;
            let contact_field = if field == "billing_email" { "email" } else { "phone" };
            for c in self.cx.companies().list(&Query::new(Filter::eq(company_field, v.as_str())).limit(10)).await?.items
            {
                add(Party::Company(c), &mut candidates);
            }
            for person in
                self.cx.contacts().list(&Query::new(Filter::eq(contact_field, v.as_str())).limit(10)).await?.items
            {
                match person.company_id {
                    Some(id) => add(Party::Company(self.cx.companies().get(id).await?), &mut candidates),
                    None => add(Party::Contact(person), &mut candidates),
                }
            }
        }
        let mut free = Vec::new();
        for p in candidates {
            if let Some(p) = self.unlinked(p).await? {
                free.push(p);
            }
        }
        match free.len() {
            0 => Ok(Ok((None, None))),
            1 => Ok(Ok((free.pop(), None))),
            n => Ok(Err(format!("its email or phone matches {n} CRM records; link it by hand"))),
        }
    }

    /// The record, unless it is already paired with another customer on this connection.
    pub(super) async fn unlinked(&self, p: Party) -> Result<Option<Party>> {
        let linked = self.cx.sync().link_for_local(&self.conn, p.entity_ref()).await?;
        Ok(if linked.is_some() { None } else { Some(p) })
    }

    /// The customer's accounts receivable, when the system tells it.
    fn balance(&self, rc: &RemoteCustomer) -> Option<AccountBalance> {
        match (rc.balance, rc.currency) {
            (Some((outstanding, overdue)), Some(cur)) => Some(AccountBalance {
                outstanding: Money::new(outstanding, cur),
                overdue: Money::new(overdue, cur),
                as_of: rc.updated_at.unwrap_or_else(|| self.cx.now()),
            }),
            _ => None,
        }
    }

    pub(super) async fn pull_customer(&mut self, rc: RemoteCustomer) -> Result<()> {
        if rc.supplier_only {
            self.skip(CUSTOMER, &rc.id, "a supplier, not a customer");
            return Ok(());
        }
        if rc.status == RemoteStatus::ErasureRequested {
            self.skip(CUSTOMER, &rc.id, "its data is to be erased (GDPR request); nothing is imported");
            return Ok(());
        }
        let email = self.normalise_email(&rc.email);
        let phone = self.normalise_phone(&rc.phone);
        let (party, link) = match self.find_party(&rc, &email, &phone).await? {
            Ok(found) => found,
            Err(reason) => {
                self.skip(CUSTOMER, &rc.id, reason);
                return Ok(());
            }
        };
        let remote: BTreeMap<&str, Option<String>> = [("billing_email", email), ("phone", phone)].into_iter().collect();
        let balance = self.balance(&rc);
        let Some(before) = party else {
            let mut input = NewCompany::new(rc.name.clone()).external_ref(self.system, rc.id.clone());
            input.legal_name = rc.legal_name.clone();
            input.tax_id = rc.tax_id.clone();
            input.billing_email = remote["billing_email"].clone();
            input.phones = remote["phone"].iter().map(|p| (p.clone(), PhoneLabel::Main)).collect();
            input.addresses = rc.billing_address.iter().cloned().collect();
            input.credit_terms = rc.net_days.map(CreditTerms::net);
            input.account_balance = balance;
            let company = match self.cx.companies().create(input).await {
                Ok(c) => c,
                Err(e) if is_refusal(&e) => {
                    self.skip(CUSTOMER, &rc.id, format!("the CRM refused it: {e}"));
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            };
            let snapshot = remote.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
            self.link(company.entity_ref(), CUSTOMER, &rc, snapshot, Vec::new()).await?;
            self.report.customers.created += 1;
            return Ok(());
        };
        let mut after = before.clone();
        // What accounting owns is overwritten.
        after.take_owned(self.system, &rc, balance);
        // What both edit is merged against the last sync.
        let mut snapshot = link.as_ref().map(|l| l.snapshot.clone()).unwrap_or_default();
        let mut conflicts = link.as_ref().map(|l| l.conflicts.clone()).unwrap_or_default();
        // A value there that the CRM cannot read (a phone without a country and no default
        // region) says nothing: that field is left out of the merge, never taken as cleared.
        let unreadable = |f: &str| match f {
            "billing_email" => rc.email.is_some() && remote[f].is_none(),
            _ => rc.phone.is_some() && remote[f].is_none(),
        };
        for field in SHARED {
            if unreadable(field) {
                continue;
            }
            let local = after.shared(field);
            let theirs = &remote[field];
            match merge(snapshot.get(field), &local, theirs) {
                Merge::Same(v) => {
                    snapshot.insert(field.to_owned(), v);
                    conflicts.retain(|c| c.field != field);
                }
                Merge::TakeRemote(v) => {
                    after.set_shared(field, &v);
                    snapshot.insert(field.to_owned(), v);
                    conflicts.retain(|c| c.field != field);
                }
                // Only the CRM has it (or changed it): the push sends it. A field never synced
                // gets the remote value as its base, so the push sees it as changed here.
                Merge::KeepLocal => {
                    snapshot.entry(field.to_owned()).or_insert_with(|| theirs.clone());
                }
                Merge::Conflict => {
                    let base = snapshot.get(field).cloned().flatten();
                    let c = SyncConflict {
                        field: field.to_owned(),
                        base,
                        local,
                        remote: theirs.clone(),
                        detected_at: self.cx.now(),
                    };
                    match conflicts.iter_mut().find(|x| x.field == field) {
                        Some(x) if x.local == c.local && x.remote == c.remote => {}
                        Some(x) => *x = c,
                        None => conflicts.push(c),
                    }
                }
            }
        }
        if after != before {
            if let Err(e) = after.save(self.cx).await {
                if is_refusal(&e) {
                    self.skip(CUSTOMER, &rc.id, format!("the CRM refused the update: {e}"));
                    return Ok(());
                }
                return Err(e.into());
            }
            self.report.customers.updated += 1;
        } else {
            self.report.customers.unchanged += 1;
        }
        let link_same = link
            .as_ref()
            .is_some_and(|l| l.snapshot == snapshot && l.conflicts == conflicts && l.remote_version == rc.version);
        if !link_same {
            self.link(before.entity_ref(), CUSTOMER, &rc, snapshot, conflicts).await?;
        }
        Ok(())
    }

    pub(super) async fn link(
        &self,
        local: EntityRef,
        remote_kind: &str,
        rc: &RemoteCustomer,
        snapshot: BTreeMap<String, Option<String>>,
        conflicts: Vec<SyncConflict>,
    ) -> Result<SyncLink> {
        Ok(self
            .cx
            .sync()
            .put_link(LinkInput {
                remote_version: rc.version.clone(),
                ..LinkInput::new(self.conn.clone(), local, remote_kind, rc.id.clone())
                    .snapshot(snapshot)
                    .conflicts(conflicts)
            })
            .await?)
    }

    pub(super) async fn push_customers(&mut self, started: DateTime<Utc>) -> Result<()> {
        let (since, version) = self.cursor("push").await?;
        let changed = match since {
            Some(s) => Filter::gt("updated_at", s),
            None => Filter::All,
        };
        let mut q = Query::new(changed.clone()).limit(100);
        loop {
            let page = self.cx.companies().list(&q).await?;
            for company in page.items {
                self.push_or_report(Party::Company(company)).await?;
            }
            match page.next {
                Some(c) => q.after = Some(c),
                None => break,
            }
        }
        // People buying on their own account (no company).
        let mut q = Query::new(changed.and(Filter::is_null("company_id"))).limit(100);
        loop {
            let page = self.cx.contacts().list(&q).await?;
            for contact in page.items {
                self.push_or_report(Party::Contact(contact)).await?;
            }
            match page.next {
                Some(c) => q.after = Some(c),
                None => break,
            }
        }
        // Conflicts resolved by hand since the last run: read the customer again (the remote
        // side may be the winner) and send what is now the CRM's to send.
        for link in self.cx.sync().resolved(&self.conn).await? {
            if let Some(fresh) = self.connector.customer(&link.remote_id).await? {
                self.pull_customer(fresh).await?;
            }
            if let Some(party) = Party::load(self.cx, link.local).await? {
                self.push_or_report(party).await?;
            }
            self.cx.sync().settle(link.id).await?;
        }
        self.advance("push", version, Some(started)).await
    }

    pub(super) async fn push_or_report(&mut self, party: Party) -> Result<()> {
        let r = party.entity_ref();
        match self.push_party(party, false).await {
            // What concerns this record only (a refusal there or here, an answer that does not
            // fit, a version that stayed stale) is reported; the run and later runs go on.
            Err(
                e @ (IntegrationError::Rejected { .. }
                | IntegrationError::Malformed { .. }
                | IntegrationError::Stale { .. }
                | IntegrationError::Invalid { .. }),
            ) => {
                self.skip(CUSTOMER, &format!("crm:{}", r.id), format!("not pushed: {e}"));
                Ok(())
            }
            Err(IntegrationError::Crm(e)) if is_refusal(&e) => {
                self.skip(CUSTOMER, &format!("crm:{}", r.id), format!("not pushed: {e}"));
                Ok(())
            }
            other => other,
        }
    }

    /// Whether an unpaired record is one to create there.
    pub(super) async fn wanted(&self, party: &Party) -> Result<bool> {
        let (filter, kind) = match party {
            Party::Company(_) => (&self.options.push, EntityKind::Company),
            Party::Contact(_) => (&self.options.push_contacts, EntityKind::Contact),
        };
        let Some(filter) = filter else { return Ok(false) };
        // A record that came from this system keeps its customer, even unlinked.
        if party.external_refs().iter().any(|r| r.system == self.system) {
            return Ok(false);
        }
        let r = party.entity_ref();
        let only = Filter::eq("id", r.id).and(filter.clone());
        let n = match kind {
            EntityKind::Company => self.cx.companies().count(&only).await?,
            _ => self.cx.contacts().count(&only).await?,
        };
        Ok(n > 0)
    }

    pub(super) async fn push_party(&mut self, party: Party, retried: bool) -> Result<()> {
        let link = self.cx.sync().link_for_local(&self.conn, party.entity_ref()).await?;
        let values: BTreeMap<String, Option<String>> =
            SHARED.iter().map(|f| ((*f).to_owned(), party.shared(f))).collect();
        let r = party.entity_ref();
        // Creates send every shared field; updates only the ones changed here.
        let draft = |name: Option<String>, only: Option<&[&str]>| {
            let pick = |f: &str| only.is_none_or(|o| o.contains(&f)).then(|| values[f].clone());
            CustomerDraft { name, email: pick("billing_email"), phone: pick("phone"), reference: r.id.to_string() }
        };
        match link {
            None => {
                if !self.wanted(&party).await? {
                    return Ok(());
                }
                let key = idempotency_key(&self.conn, "create-customer", r, party.version());
                let rc = self.connector.create_customer(&draft(Some(party.remote_name()), None), &key).await?;
                let Some(mut after) = Party::load(self.cx, r).await? else { return Ok(()) };
                // What accounting owns comes back with the answer (the name it keeps as the
                // legal name, its terms): taken now, so the next pull finds nothing to change.
                after.take_owned(self.system, &rc, self.balance(&rc));
                let after = match after.save(self.cx).await {
                    Ok(after) => after,
                    // Created there, refused here (the answer names a customer another record
                    // holds, a rule of the CRM's): reported, and the run goes on. A later run
                    // sends the same idempotency key, so no second customer is made.
                    Err(e) if is_refusal(&e) => {
                        self.skip(CUSTOMER, &rc.id, format!("created there, but the CRM refused the link: {e}"));
                        return Ok(());
                    }
                    Err(e) => return Err(e.into()),
                };
                self.link(after.entity_ref(), CUSTOMER, &rc, values, Vec::new()).await?;
                self.report.pushed.created += 1;
            }
            Some(link) => {
                let pending: Vec<&str> = SHARED
                    .iter()
                    .copied()
                    .filter(|f| {
                        link.snapshot.get(*f).is_some_and(|base| *base != values[*f])
                            && !link.conflicts.iter().any(|c| c.field == *f)
                    })
                    .collect();
                if pending.is_empty() {
                    return Ok(());
                }
                // The remote version is in the key: a retry after a stale version is a new request.
                let key = idempotency_key(
                    &self.conn,
                    "update-customer",
                    format!("{r}@{}", link.remote_version.as_deref().unwrap_or("")),
                    party.version(),
                );
                let sent = self
                    .connector
                    .update_customer(
                        &link.remote_id,
                        link.remote_version.as_deref(),
                        &draft(None, Some(&pending)),
                        &key,
                    )
                    .await;
                let rc = match sent {
                    Err(IntegrationError::Stale { .. }) if !retried => {
                        // Changed there meanwhile: merge the fresh record, then try once more.
                        match self.connector.customer(&link.remote_id).await? {
                            Some(fresh) => self.pull_customer(fresh).await?,
                            None => self.skip(CUSTOMER, &link.remote_id, "gone from the accounting system"),
                        }
                        let Some(party) = Party::load(self.cx, r).await? else { return Ok(()) };
                        return Box::pin(self.push_party(party, true)).await;
                    }
                    other => other?,
                };
                let mut snapshot = link.snapshot.clone();
                for f in pending {
                    snapshot.insert(f.to_owned(), values[f].clone());
                }
                self.link(link.local, CUSTOMER, &rc, snapshot, link.conflicts.clone()).await?;
                self.report.pushed.updated += 1;
            }
        }
        Ok(())
    }
}
