//! Response propensity on every store: forty contacts in two past campaigns (customers answer
//! far more often than leads), a third campaign to rank the others for, the counts checked by
//! hand and the list in the right order.

use std::sync::Arc;

use crm_analytics::{Marketing, PropensityOptions};
use crm_core::model::{CampaignChannel, ResponseKind};
use crm_core::prelude::*;
use crm_core::profile::{LeadSource, LifecycleStage};
use crm_core::service::NewCampaign;
use crm_core::store::Store;
use rust_decimal::Decimal;

pub(crate) async fn targets_are_ranked_by_who_responded_before(store: Arc<dyn Store>) {
    let crm = crm_core::service::CrmBuilder::from_arc(store).build().unwrap();
    let cx = crm.as_actor(&Actor::system(TenantId::new()));
    let mut customers = Vec::new();
    let mut leads = Vec::new();
    for i in 0..40 {
        let stage = if i < 20 { LifecycleStage::Customer } else { LifecycleStage::Lead };
        let source = if i % 2 == 0 { LeadSource::Referral } else { LeadSource::Website };
        let c = NewContact::new(format!("P{i}"), "Person").lifecycle_stage(stage).lead_source(source);
        let id = cx.contacts().create(c).await.unwrap().id;
        if i < 20 { customers.push(id) } else { leads.push(id) }
    }
    let campaigns = cx.campaigns();
    let spring = campaigns.create(NewCampaign::new("Spring", CampaignChannel::Email)).await.unwrap().id;
    let summer = campaigns.create(NewCampaign::new("Summer", CampaignChannel::Email)).await.unwrap().id;
    let autumn = campaigns.create(NewCampaign::new("Autumn", CampaignChannel::Email)).await.unwrap().id;
    // Spring: everyone; 12 of the customers and 2 of the leads responded (some clicked first).
    for (i, c) in customers.iter().chain(&leads).enumerate() {
        campaigns.add_contact(spring, *c).await.unwrap();
        campaigns.record_response(spring, *c, ResponseKind::Clicked, None).await.unwrap();
        if i < 12 || (20..22).contains(&i) {
            campaigns.record_response(spring, *c, ResponseKind::Responded, None).await.unwrap();
        }
    }
    // Summer: ten customers; five converted.
    for (i, c) in customers.iter().take(10).enumerate() {
        campaigns.add_contact(summer, *c).await.unwrap();
        if i % 2 == 0 {
            campaigns.record_response(summer, *c, ResponseKind::Converted, None).await.unwrap();
        }
    }
    // Autumn, the target: five leads already in it (and their answers not learned from).
    for c in &leads[15..] {
        campaigns.add_contact(autumn, *c).await.unwrap();
        campaigns.record_response(autumn, *c, ResponseKind::Converted, None).await.unwrap();
    }
    let o = PropensityOptions {
        target: Some(autumn),
        fields: vec!["lifecycle_stage".into(), "lead_source".into()],
        ..Default::default()
    };
    let report = Marketing::new(&cx).response_propensity(&o).await.unwrap();
    let m = &report.model;
    // Memberships: customers 17 answered of 30, leads 2 of 20.
    assert_eq!((m.responded, m.ignored), (19, 31));
    let stages: Vec<(Option<String>, u64, u64)> =
        m.fields[0].values.iter().map(|v| (v.value.clone(), v.responded, v.ignored)).collect();
    assert_eq!(stages, vec![(Some("customer".into()), 17, 13), (Some("lead".into()), 2, 18)]);
    assert!((report.base_rate - 20.0 / 52.0).abs() < 1e-12, "{}", report.base_rate);
    // The list: the 35 contacts not in autumn, every customer above every lead.
    assert_eq!(report.targets.len(), 35);
    assert!(report.targets.iter().all(|t| !leads[15..].contains(&t.contact_id)));
    assert!(report.targets[..20].iter().all(|t| customers.contains(&t.contact_id)));
    assert!(report.targets.windows(2).all(|w| w[0].probability >= w[1].probability));
    let top = &report.targets[0];
    assert_eq!(top.contributions[0].field, "lifecycle_stage");
    assert_eq!(top.contributions[0].why, "lifecycle_stage = customer: 17 of 30 memberships responded");
    // A target's chance is the model's for their values.
    let source = top.contributions.iter().find(|c| c.field == "lead_source").unwrap().value.clone();
    assert!((m.score(&[Some("customer".into()), source]).0 - top.probability).abs() < 1e-12);
    // Only the spring campaign, only the leads, two at most.
    let leads_only = PropensityOptions {
        campaigns: vec![spring],
        audience: Filter::eq("lifecycle_stage", "lead"),
        top: 2,
        ..o.clone()
    };
    let r = Marketing::new(&cx).response_propensity(&leads_only).await.unwrap();
    assert_eq!((r.model.responded, r.model.ignored, r.targets.len()), (14, 26, 2));
    assert!(r.targets.iter().all(|t| leads[..15].contains(&t.contact_id)));

    for (bad, field) in [
        (PropensityOptions { fields: vec![], ..o.clone() }, "fields"),
        (PropensityOptions { fields: vec!["emails".into()], ..o.clone() }, "fields[0]"),
        (PropensityOptions { responses: vec![], ..o.clone() }, "responses"),
        (PropensityOptions { top: 0, ..o.clone() }, "top"),
        (PropensityOptions { smoothing: Decimal::ZERO, ..o.clone() }, "smoothing"),
    ] {
        let e = Marketing::new(&cx).response_propensity(&bad).await.unwrap_err();
        assert_eq!(e.field_errors()[0].field, field, "{e:?}");
    }
}

macro_rules! propensity_suite {
    ($make:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn targets_are_ranked_by_who_responded_before() {
            let (store, _dir) = $make().await;
            super::targets_are_ranked_by_who_responded_before(store).await
        }
    };
}

mod memory {
    propensity_suite!(crate::memory);
}

mod sqlite {
    propensity_suite!(crate::sqlite);
}

mod postgres {
    propensity_suite!(crate::postgres);
}
