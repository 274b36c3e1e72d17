package portal_test

import (
	"os"
	"testing"

	"github.com/berthreg/berth/internal/auth"
)

// TestMain makes password hashing cheap: every test stands up a server and signs in, and
// argon2 at its real cost would be most of the package's time (under the race detector, most
// of minutes).
func TestMain(m *testing.M) {
	auth.CheapHashesForTests()
	os.Exit(m.Run())
}
