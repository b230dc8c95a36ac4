// Package systemtest tests the built gatehouse binary as a running system:
// several `gatehouse serve` replicas on one PostgreSQL racing for the same
// refresh token, authorization code, quota, service account and signing key;
// the database cut off under load and restored; SIGTERM under a stream of
// writes; one tenant's identity provider (a second Gatehouse) vouching for
// another tenant's administrator; the cross-tenant takeover through an
// unverified domain claim (issue 12), with a second Gatehouse as the
// attacker's identity provider and a DNS server on loopback
// (--dns-resolver). The tests build the binary once, start real processes on loopback
// ports, and talk to them over HTTP and through the admin CLI, as an operator
// and relying parties would.
//
// The PostgreSQL tests need GATEHOUSE_TEST_DATABASE_URL (CI sets it); each
// creates a database of its own on that server and drops it at the end. They
// skip with a message when it is unset. The SIGTERM test and both takeover
// replays also run on SQLite.
package systemtest
