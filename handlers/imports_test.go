package handlers_test

import (
	"go/build"
	"slices"
	"testing"
)

// TestPackage_NoDatabaseSQL: handlers reach the database only through the
// stores and the functions the server is given, so that the SQL of the site
// stays in the packages that own its tables. Test files may still open the
// database to check what a request wrote.
func TestPackage_NoDatabaseSQL(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkg.GoFiles) == 0 {
		t.Fatal("no Go files found: the test does not look at the handlers package")
	}
	for _, forbidden := range []string{"database/sql", "database/sql/driver", "github.com/lib/pq"} {
		if slices.Contains(pkg.Imports, forbidden) {
			t.Errorf("package handlers imports %s", forbidden)
		}
	}
}
