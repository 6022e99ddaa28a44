//! Email templates with merge fields (`{{ contact.given_name }}`), rendered by minijinja.

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::error::{IntegrationError, Result};

/// A subject, a plain-text body and optionally an HTML body, each a minijinja template over
/// the merge data (`contact`, `company`, `deal`, `sender`; see [`Mailer`](super::Mailer)).
///
/// Templates are checked when made, so a typo in the syntax is found before any mail goes
/// out; a merge field the data does not have fails the render (never an empty string), naming
/// it. HTML bodies escape merged values; subjects and text bodies do not.
///
/// ```
/// use crm_integrations::email::Template;
/// let t = Template::new("Your quote, {{ contact.given_name }}", "Hello {{ contact.given_name }},\n…")?;
/// assert!(Template::new("{{ contact.given_name", "").is_err());
/// # Ok::<(), crm_integrations::IntegrationError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    subject: String,
    text: String,
    html: Option<String>,
}

impl Template {
    /// A template with a subject and a plain-text body.
    pub fn new(subject: impl Into<String>, text: impl Into<String>) -> Result<Self> {
        let t = Template { subject: subject.into(), text: text.into(), html: None };
        t.check()?;
        Ok(t)
    }

    /// Adds an HTML body (the text body stays as the plain alternative).
    pub fn html(mut self, html: impl Into<String>) -> Result<Self> {
        self.html = Some(html.into());
        self.check()?;
        Ok(self)
    }

    fn parts(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [("subject", Some(self.subject.as_str())), ("text", Some(self.text.as_str())), ("html", self.html.as_deref())]
            .into_iter()
            .filter_map(|(p, s)| s.map(|s| (p, s)))
    }

    fn check(&self) -> Result<()> {
        let env = environment();
        for (part, source) in self.parts() {
            env.template_from_str(source).map_err(|e| template_error(part, &e))?;
        }
        if self.subject.trim().is_empty() {
            return Err(IntegrationError::Template { part: "subject", reason: "is empty".into() });
        }
        Ok(())
    }

    /// Renders every part with `data`.
    pub fn render(&self, data: &impl Serialize) -> Result<Rendered> {
        let env = environment();
        let value = minijinja::Value::from_serialize(data);
        let render = |part: &'static str, source: &str, html: bool| -> Result<String> {
            let name = if html { "body.html" } else { "body.txt" };
            let mut env = env.clone();
            env.add_template(name, source).map_err(|e| template_error(part, &e))?;
            let tmpl = env.get_template(name).map_err(|e| template_error(part, &e))?;
            tmpl.render(&value).map_err(|e| template_error(part, &e))
        };
        let subject = render("subject", &self.subject, false)?;
        // A subject is one line: folded whitespace, no header injection.
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        if subject.is_empty() {
            return Err(IntegrationError::Template { part: "subject", reason: "renders empty".into() });
        }
        Ok(Rendered {
            subject,
            text: render("text", &self.text, false)?,
            html: self.html.as_deref().map(|h| render("html", h, true)).transpose()?,
        })
    }
}

/// A rendered template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// The subject (one line).
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: Option<String>,
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Autoescape HTML bodies only (by the template's name).
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") { minijinja::AutoEscape::Html } else { minijinja::AutoEscape::None }
    });
    env
}

fn template_error(part: &'static str, e: &minijinja::Error) -> IntegrationError {
    let mut reason = e.to_string();
    if let Some(line) = e.line() {
        reason = format!("{reason} (line {line})");
    }
    IntegrationError::Template { part, reason }
}
