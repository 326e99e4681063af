-- XEP-0480: an account may hold SCRAM-SHA-1 credentials only (imported
-- from a server that kept no SHA-256 ones); it gains SHA-256 ones at its
-- next SASL2 login with the UPGR-SCRAM-SHA-256 task (sasl/auth.c).
ALTER TABLE users
    ALTER COLUMN sha256_salt DROP NOT NULL,
    ALTER COLUMN sha256_iter DROP NOT NULL,
    ALTER COLUMN sha256_stored DROP NOT NULL,
    ALTER COLUMN sha256_server DROP NOT NULL;
