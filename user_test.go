package aistat_test

import (
	"encoding/json"
	"testing"
	"time"

	"aistat"
)

// TestUser_MarshalJSON: the API's form of a user is its fields as tagged
// and what pages show of it, each computed by its one rule; a User inside
// any value, by pointer or not, gets the same.
func TestUser_MarshalJSON(t *testing.T) {
	u := aistat.User{ID: 7, Email: "sara@example.com", Name: "сара чен", Role: aistat.RoleEditor, AvatarURL: "https://example.com/s.png",
		Disabled: true, CreatedAt: time.Unix(1, 0), UpdatedAt: time.Unix(2, 0)}
	user := `{"id":7,"email":"sara@example.com","name":"сара чен","role":"editor","avatarUrl":"https://example.com/s.png",` +
		`"roleLabel":"Editor","initials":"СЧ","staff":true,"locale":null,"timeZone":null}`
	for _, tt := range []struct {
		what string
		v    any
		want string
	}{
		{"value", u, user},
		{"pointer", &u, user},
		{"field", struct{ User aistat.User }{u}, `{"User":` + user + `}`},
	} {
		b, err := json.Marshal(tt.v)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(b); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.what, got, tt.want)
		}
	}
	// The user's choices, null when none.
	u.Locale, u.TimeZone = aistat.LocaleEnglish, "Asia/Tokyo"
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	if want := user[:len(user)-len(`"locale":null,"timeZone":null}`)] + `"locale":"en","timeZone":"Asia/Tokyo"}`; string(b) != want {
		t.Errorf("with choices: got %s, want %s", b, want)
	}
	viewer := aistat.User{Name: "Vera", Role: aistat.RoleViewer}
	if got, want := viewer.Display(), (aistat.Display{RoleLabel: "Viewer", Initials: "V", Staff: false}); got != want {
		t.Errorf("Display() = %+v, want %+v", got, want)
	}
}
