-- Schema version 3: connector instances.

-- `document` is the instance's settings as JSON. `secrets` is the sealed
-- JSON object of its secrets (nonce, then ChaCha20-Poly1305 ciphertext), or
-- empty when it has none; the plaintext is never stored.
CREATE TABLE connectors (
    project TEXT NOT NULL,
    name TEXT NOT NULL,
    document TEXT NOT NULL,
    secrets BLOB NOT NULL,
    PRIMARY KEY (project, name)
) STRICT;
