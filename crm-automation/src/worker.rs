//! A runner at work in the background on a tokio runtime (feature `tokio`): every period,
//! everything there is to do in each of its tenants, waiting longer after a failure.

use std::time::Duration;

use crm_core::ids::TenantId;
use tokio::sync::watch;

use crate::runner::Automation;

/// A runner working in the background: [`Automation::spawn`]. Dropping it leaves it running
/// until the runtime ends; [`stop`](Worker::stop) ends it after the run under way.
#[derive(Debug)]
pub struct Worker {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Worker {
    /// Ends the worker once the run under way is done.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

impl Automation {
    /// Runs [`run`](Automation::run) for each of `tenants` every `every`, on the current tokio
    /// runtime, until [`Worker::stop`]. A failed run is logged (`tracing`) and tried again after
    /// a longer wait each time, up to ten periods; nothing is lost in between, since the runner
    /// resumes from its cursor and timers.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use crm_core::prelude::*;
    /// use crm_core::model::{Step, Trigger};
    /// use crm_automation::Automation;
    /// let crm = Crm::new(MemoryStore::new());
    /// let tenant = TenantId::new();
    /// let cx = crm.as_actor(&Actor::system(tenant));
    /// cx.workflows().create(
    ///     NewWorkflow::new("Tag", EntityKind::Contact, Trigger::Created).step(Step::AddTags { tags: vec!["seen".into()] }),
    /// ).await.unwrap();
    /// let worker = Automation::new(crm.clone()).spawn(vec![tenant], std::time::Duration::from_millis(10));
    /// let ada = cx.contacts().create(NewContact::new("Ada", "Lovelace")).await.unwrap();
    /// for _ in 0..500 {
    ///     if !cx.contacts().get(ada.id).await.unwrap().tags.is_empty() { break }
    ///     tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    /// }
    /// worker.stop().await;
    /// assert_eq!(cx.contacts().get(ada.id).await.unwrap().tags, ["seen"]);
    /// # }
    /// ```
    pub fn spawn(&self, tenants: Vec<TenantId>, every: Duration) -> Worker {
        let (stop, mut stopped) = watch::channel(false);
        let auto = self.clone();
        let task = tokio::spawn(async move {
            let mut wait = every;
            loop {
                let mut failed = false;
                for t in &tenants {
                    if let Err(e) = auto.run(*t).await {
                        failed = true;
                        tracing::warn!(tenant = %t, error = %e, "automation run failed; trying again later");
                    }
                }
                wait = if failed { (wait * 2).min(every * 10) } else { every };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stopped.changed() => break,
                }
            }
        });
        Worker { stop, task }
    }
}
