use godwit::prelude::*;
use godwit::quote_literal;

/// Backfill: split every `name` at its last space, in Rust, on the migration's connection.
#[migration(after = [super::split_names_expand::split_names_expand])]
pub fn split_names_backfill(m: &mut Migration) {
    m.rust("split users.name into first_name and last_name", |db| {
        Box::pin(async move {
            let rows = db
                .fetch_text("SELECT id, name FROM users WHERE first_name IS NULL")
                .await?;
            for row in rows {
                let (Some(id), Some(name)) = (&row[0], &row[1]) else {
                    continue;
                };
                let (first, last) = name.rsplit_once(' ').unwrap_or((name, ""));
                let id: i64 = id.parse()?;
                let dialect = db.dialect();
                db.execute(&format!(
                    "UPDATE users SET first_name = {}, last_name = {} WHERE id = {id}",
                    quote_literal(dialect, first),
                    quote_literal(dialect, last)
                ))
                .await?;
            }
            Ok(())
        })
    })
    .reverse(|db| {
        Box::pin(async move {
            db.execute("UPDATE users SET first_name = NULL, last_name = NULL")
                .await?;
            Ok(())
        })
    });
}
