use chrono::NaiveDate;
use crm_core::error::FieldErrorCode;
use crm_core::prelude::*;
use crm_core::profile::{Address, AddressLabel, EmailLabel, PhoneLabel};
use crm_io::{VcardVersion, export_vcards, import_vcards};

use crate::common::*;

fn carried(c: &Contact) -> impl PartialEq + std::fmt::Debug + use<> {
    (
        c.given_name.clone(),
        c.family_name.clone(),
        c.emails.iter().map(|e| (e.address.as_str().to_owned(), e.label)).collect::<Vec<_>>(),
        c.phones.iter().map(|p| (p.number.as_str().to_owned(), p.label)).collect::<Vec<_>>(),
        c.addresses.clone(),
        c.website.as_ref().map(|w| w.as_str().to_owned()),
        c.birthday,
        c.family_notes.clone(),
        c.tags.clone(),
        c.job_title.clone(),
    )
}

#[tokio::test]
async fn contacts_go_out_as_vcards_3_and_4_and_come_back_equal() {
    let env = env().await;
    let cx = env.cx();
    let home = Address {
        label: Some(AddressLabel::Home),
        lines: vec!["1 Main St".into(), "Flat 2".into()],
        city: Some("London".into()),
        region: None,
        postal_code: Some("SW1A 1AA".into()),
        country: Some("GB".into()),
    };
    let ada = NewContact::new("Ada", "King-Lovelace")
        .email_labeled("ada@work.example", EmailLabel::Work)
        .email_labeled("ada@home.example", EmailLabel::Personal)
        .phone_labeled("+44 20 7946 0958", PhoneLabel::Mobile)
        .phone_labeled("(415) 555-2671", PhoneLabel::Work)
        .address(home)
        .website("https://ada.example/notes")
        .birthday(NaiveDate::from_ymd_opt(1815, 12, 10).unwrap())
        .family_notes("Likes engines; dislikes \"poetry\", sometimes\nnew line")
        .tag("math")
        .tag("vip, early")
        .job_title("Countess");
    cx.contacts().create(ada).await.unwrap();
    cx.contacts().create(NewContact::new("", "Mononym")).await.unwrap();
    let mine: Vec<_> = cx.contacts().list(&Query::default()).await.unwrap().items.iter().map(carried).collect();

    for version in [VcardVersion::V3, VcardVersion::V4] {
        let mut out = Vec::new();
        assert_eq!(export_vcards(&cx, &Query::default(), version, &mut out).await.unwrap(), 2);
        let vcf = String::from_utf8(out).unwrap();
        assert!(vcf.contains(if version == VcardVersion::V3 { "VERSION:3.0" } else { "VERSION:4.0" }), "{vcf}");
        let other = env.crm.as_actor(&Actor::system(TenantId::new()));
        let done = import_vcards(&other, &vcf).await.unwrap();
        assert!(done.rejected.is_empty(), "{:?}\n{vcf}", done.rejected);
        let theirs: Vec<_> =
            other.contacts().list(&Query::default()).await.unwrap().items.iter().map(carried).collect();
        assert_eq!(theirs, mine, "{version:?}\n{vcf}");
    }
}

#[tokio::test]
async fn an_address_book_export_as_phones_write_it() {
    let env = env().await;
    let cx = env.cx();
    // Folded lines, item groups, TYPE lists, escapes, a card without a name, a country by name.
    let vcf = "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//iPhone OS 17.0//EN\r\nN:Hopper;Grace;Brewster Murray;Rear Admiral;\r\n\
FN:Grace Hopper\r\nORG:US Navy;\r\nitem1.EMAIL;type=INTERNET;type=HOME;type=pref:grace@home.example\r\n\
TEL;type=CELL;type=VOICE;type=pref:(202) 555-01\r\n 43\r\nNOTE:Found the first bug\\, a moth.\r\nCATEGORIES:navy,cobol\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:3.0\r\nEMAIL:nobody@example.org\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Alan Turing\r\nADR;TYPE=home:;;Hollymeade;Wilmslow;;SK9;United Kingdom\r\nEND:VCARD\r\n";
    let done = import_vcards(&cx, vcf).await.unwrap();
    assert_eq!(done.imported.len(), 1);
    let grace = cx.contacts().get(done.imported[0]).await.unwrap();
    assert_eq!((grace.given_name.as_str(), grace.family_name.as_str()), ("Grace", "Hopper"));
    assert_eq!((grace.emails[0].address.as_str(), grace.emails[0].label), ("grace@home.example", EmailLabel::Personal));
    assert_eq!(
        (grace.phones[0].number.as_str(), grace.phones[0].label),
        ("+12025550143", PhoneLabel::Mobile),
        "folded line joined"
    );
    assert_eq!(grace.family_notes.as_deref(), Some("Found the first bug, a moth."));
    assert_eq!(grace.tags, ["navy", "cobol"]);
    let why: Vec<(usize, String, FieldErrorCode)> = done
        .rejected
        .iter()
        .map(|(i, e)| {
            let Error::Validation(v) = e else { panic!("{e:?}") };
            (*i, v.0[0].field.clone(), v.0[0].code)
        })
        .collect();
    assert_eq!(
        why,
        [
            (1, "n".to_owned(), FieldErrorCode::Required),
            (2, "addresses[0].country".to_owned(), FieldErrorCode::InvalidFormat)
        ]
    );
}
