package templates

import (
	"fmt"
	"io"
	"testing"
	"time"

	"aistat"
)

// BenchmarkExecute renders the most requested pages: run with -benchmem.
// The admin page is a full page of fifty editable rows.
func BenchmarkExecute(b *testing.B) {
	tmpl, _ := newTemplates(b)
	last := time.Date(2026, 11, 27, 7, 51, 0, 0, time.UTC)
	summaries := make([]aistat.UserSummary, 50)
	for i := range summaries {
		summaries[i] = aistat.UserSummary{
			User:           aistat.User{ID: int64(i + 10), Email: fmt.Sprintf("user%d@example.com", i), Name: fmt.Sprintf("User %d", i), Role: aistat.RoleViewer},
			ActiveSessions: i % 3,
			LastActive:     last,
		}
	}
	for _, tc := range []struct {
		name string
		view View
	}{
		{"HomeAnonymous", HomePage{Title: "Home", Path: "/"}},
		{"HomeSignedIn", HomePage{Title: "Home", User: NewAccount(admin, en), Path: "/"}},
		{"Admin", AdminPage{
			Page: Page{Title: "Admin", User: NewAccount(admin, en), Path: "/admin"},
			Rows: NewAdminRows(summaries, admin.ID, en, nil), CanEdit: true, Private: true,
			Caption: "All users", NextURL: "/admin?after=59", Back: "/admin",
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := tmpl.Render(io.Discard, tc.view); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
