//! Notifications beyond the CRM: a notifier given each new notification once, again after a
//! failure a retry may cure, and the background worker.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use crm_automation::{Automation, Notifier};
use crm_core::model::{Notification, Step, Trigger};
use crm_core::prelude::*;

#[derive(Default)]
struct Outbox {
    sent: Mutex<Vec<String>>,
    fail_next: Mutex<bool>,
}

#[async_trait]
impl Notifier for Outbox {
    async fn deliver(&self, n: &Notification) -> Result<()> {
        if std::mem::take(&mut *self.fail_next.lock().unwrap()) {
            return Err(Error::storage("the chat service is down"));
        }
        self.sent.lock().unwrap().push(n.message.clone());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_new_notification_reaches_the_notifier() {
    let w = crate::World::new(crate::memory().await.0);
    let cx = w.cx();
    let rep = cx.users().create(NewUser::new("Ria Rep", "ria@shop.example")).await.unwrap();
    cx.workflows()
        .create(NewWorkflow::new("Tell Ria", EntityKind::Contact, Trigger::Created).step(Step::Notify {
            message: "A new contact".into(),
            users: vec![rep.id],
            owner: false,
        }))
        .await
        .unwrap();
    let outbox = Arc::new(Outbox::default());
    let auto = Automation::new(w.crm.clone()).with_notifier(outbox.clone());
    cx.contacts().create(NewContact::new("Ann", "One")).await.unwrap();
    // The first notification's delivery fails: the run stops there and the next one delivers it.
    *outbox.fail_next.lock().unwrap() = true;
    assert!(auto.run(w.tenant).await.is_err());
    let report = auto.run(w.tenant).await.unwrap();
    assert_eq!(report.delivered, 1);
    cx.contacts().create(NewContact::new("Bob", "Two")).await.unwrap();
    assert_eq!(auto.run(w.tenant).await.unwrap().delivered, 1);
    assert_eq!(*outbox.sent.lock().unwrap(), ["A new contact", "A new contact"]);
    assert_eq!(auto.run(w.tenant).await.unwrap().delivered, 0, "each once");
}
