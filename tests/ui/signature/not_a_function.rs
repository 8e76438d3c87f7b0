use godwit::prelude::*;

#[migration(after = [])]
struct CreatePosts;

fn main() {
    let _ = CreatePosts;
}
