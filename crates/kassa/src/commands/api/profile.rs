//! `kassa api profile me|edit|verify`.

use kassa_client::{Client, Error, Profile, ProfileEdit, VerifyRequest};

use super::{fields, or_dash, Out};
use crate::cli::ApiProfileCommand;

pub(super) async fn run(client: &Client, out: &Out, command: ApiProfileCommand) -> Result<(), Error> {
    match command {
        ApiProfileCommand::Me => {
            let profile = client.profile_me().await?;
            out.print(&envelope(&profile), || show(&profile));
        }
        ApiProfileCommand::Edit(args) => {
            let edit = ProfileEdit {
                first_name: args.first_name,
                last_name: args.last_name,
                username: args.username,
                email: args.email,
                phone: args.phone,
                language: args.language,
                country: args.country,
                city: args.city,
                address: args.address,
                bio: args.bio,
            };
            let profile = client.edit_profile(&edit).await?;
            out.print(&envelope(&profile), || show(&profile));
        }
        ApiProfileCommand::Verify { verify_type, first_name, gender, id_number, document1, document2 } => {
            let mut request = VerifyRequest::new(&verify_type, &first_name, gender, &id_number);
            for (slot, path) in [(1, document1), (2, document2)] {
                if let Some(path) = path {
                    let bytes = std::fs::read(&path)
                        .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
                    eprintln!("sending document{slot}: {} ({} bytes)", path.display(), bytes.len());
                    request = request.with_document(slot, &bytes);
                }
            }
            let verification = client.verify_profile(&request).await?;
            out.print(&envelope(&verification), || {
                fields(&[
                    ("verification", verification.id.clone()),
                    ("status", verification.status.clone()),
                    ("type", verification.verify_type.clone()),
                    ("document1", or_dash(verification.document1.as_ref())),
                    ("document2", or_dash(verification.document2.as_ref())),
                    ("submitted", verification.submitted.clone()),
                ])
            });
        }
    }
    Ok(())
}

/// The seed's envelope, so `--json` prints what the API answered.
fn envelope<T: serde::Serialize>(response: &T) -> serde_json::Value {
    serde_json::json!({"success": true, "response": response})
}

fn show(p: &Profile) -> String {
    let name = [p.first_name.as_deref(), p.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
    fields(&[
        ("id", format!("{} ({})", p.id, p.user_id)),
        ("name", if name.trim().is_empty() { "-".into() } else { name }),
        ("username", or_dash(p.username.as_ref())),
        ("email", or_dash(p.email.as_ref())),
        ("phone", or_dash(p.phone.as_ref())),
        ("language", or_dash(p.language.as_ref())),
        ("country", or_dash(p.country.as_ref())),
        ("city", or_dash(p.city.as_ref())),
        ("address", or_dash(p.address.as_ref())),
        ("bio", or_dash(p.bio.as_ref())),
        ("verified", if p.verified == "1" { "yes".into() } else { "no".into() }),
        ("created", p.created.clone()),
    ])
}
