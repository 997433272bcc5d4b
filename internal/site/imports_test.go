package site_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports: no arrow goes back up. The domain imports no package of
// ours; nothing below the assembly (the handlers, the sessions, the hub,
// the helpers) imports it or a command; only the assembly and the
// commands import the handlers.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-e", "-f", `{{.ImportPath}}:{{join .Imports " "}}`, "aistat/...").Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list: %v\n%s", err, stderr)
	}
	imports := map[string][]string{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, ":")
		imports[pkg] = strings.Fields(deps)
	}
	if len(imports) < 10 {
		t.Fatalf("go list found %d packages: %s", len(imports), out)
	}
	deps := func(pkg string) map[string]bool {
		seen := map[string]bool{}
		var walk func(string)
		walk = func(p string) {
			for _, d := range imports[p] {
				if !seen[d] {
					seen[d] = true
					walk(d)
				}
			}
		}
		walk(pkg)
		return seen
	}
	isCommand := func(p string) bool { return strings.HasPrefix(p, "aistat/cmd/") }
	for pkg := range imports {
		if isCommand(pkg) {
			continue
		}
		for d := range deps(pkg) {
			switch {
			case pkg == "aistat" && strings.HasPrefix(d, "aistat/"):
				t.Errorf("the domain imports %s", d)
			case isCommand(d):
				t.Errorf("%s imports the command %s", pkg, d)
			case d == "aistat/internal/site":
				t.Errorf("%s imports the assembly", pkg)
			case pkg != "aistat/internal/site" && (d == "aistat/handlers" || strings.HasPrefix(d, "aistat/handlers/")):
				t.Errorf("%s imports the handlers", pkg)
			}
		}
	}
}
