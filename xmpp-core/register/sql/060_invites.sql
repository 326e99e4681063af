-- xmpp-core schema, version 60: invitations (XEP-0401 easy onboarding,
-- XEP-0379 / XEP-0445 pre-authenticated registration), made by
-- `xmppctl invite`.  Only the SHA-256 of a token is stored (hex), never
-- the token.  inviter: the localpart of the account the new one is
-- subscribed to both ways, NULL for an invitation to the host alone.
-- An invitation is used once: used_by is set when an account was
-- registered with it (and cleared again if that registration failed).

CREATE TABLE reg_invite (
	token_hash text PRIMARY KEY,
	host text NOT NULL,
	inviter text,
	created timestamptz NOT NULL DEFAULT now(),
	expires timestamptz NOT NULL,
	used_by text,
	used_at timestamptz
);
CREATE INDEX reg_invite_expires ON reg_invite (expires);
