// Package security holds Tandem's transport and identity building blocks:
// TLS configurations from certificate files (tls.go), a small CA and
// certificate generator for tests and small deployments (certs.go, the
// `tandem certs` command), the peer-port guard that admits only members
// of the group (peer.go: mTLS identity and/or a cluster secret checked on
// every stream before any data byte), and salted password hashes for the
// Milvus-compatible user/password authentication (password.go).
//
// Secrets (passwords, the cluster secret, private keys) are never
// formatted into errors or logs by this package.
package security
