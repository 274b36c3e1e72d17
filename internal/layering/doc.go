// Package layering holds the test that keeps Berth's packages in their layers (see
// docs/architecture.md): stores at the bottom know nothing of HTTP, services hold the rules,
// HTTP packages parse and answer through the services, and the server wires them together.
// Dependencies point down; a package new to the tree must be given its layer here.
package layering
