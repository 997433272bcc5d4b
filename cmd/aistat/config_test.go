package main

import (
	"io"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"aistat"
	"aistat/internal/postgres"
)

// defaults is the configuration of a bare `aistat serve`.
var defaults = Config{
	Addr:            "127.0.0.1:8080",
	DataDir:         "./.data",
	Demo:            true,
	BaseURL:         "http://localhost:8080",
	SessionLifetime: 336 * time.Hour,
	SessionMaxAge:   720 * time.Hour,
	SessionRefresh:  time.Hour,
	// Admins' sessions: half a day idle, a week at most.
	AdminSessionLifetime: 12 * time.Hour,
	AdminSessionMaxAge:   168 * time.Hour,
	// Sessions without "Keep me signed in": half a day idle.
	ShortSessionLifetime: 12 * time.Hour,
	// The stream limits of the live-events issue.
	MaxStreamsPerUser: 100,
	MaxStreams:        20000,
	CleanupInterval:   10 * time.Minute,
	DBMaxConns:        postgres.DefaultMaxConns,
	// The site's people read Russian and live mostly in Moscow's time.
	DefaultLocale: aistat.LocaleRussian,
	TimeZone:      "Europe/Moscow",
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseConfig(t *testing.T) {
	allEnv := map[string]string{
		"AISTAT_ADDR":                   "0.0.0.0:9000",
		"DATABASE_URL":                  "postgres://env@db/aistat",
		"AISTAT_DATA_DIR":               "/srv/env",
		"AISTAT_DEMO":                   "true",
		"AISTAT_BASE_URL":               "http://env.example:9000",
		"AISTAT_SECURE_COOKIES":         "true",
		"AISTAT_REQUIRE_2FA_FOR_ADMINS": "true",
		"AISTAT_SESSION_LIFETIME":       "48h",
		"AISTAT_SESSION_MAX_AGE":        "96h",
		"AISTAT_SESSION_REFRESH":        "30m",
		"AISTAT_ADMIN_SESSION_LIFETIME": "6h",
		"AISTAT_ADMIN_SESSION_MAX_AGE":  "24h",
		"AISTAT_SHORT_SESSION_LIFETIME": "8h",
		"AISTAT_LISTEN_DATABASE_URL":    "postgres://env@db-direct/aistat",
		"AISTAT_TRUSTED_PROXIES":        "10.0.0.0/8, 192.168.1.1/32",
		"AISTAT_MAX_STREAMS_PER_USER":   "7",
		"AISTAT_MAX_STREAMS":            "70",
		"AISTAT_CLEANUP_INTERVAL":       "5m",
		"AISTAT_DB_MAX_CONNS":           "12",
		"AISTAT_METRICS_ADDR":           "127.0.0.1:9100",
		"AISTAT_PPROF":                  "true",
		"AISTAT_DEFAULT_LOCALE":         "en",
		"AISTAT_TIME_ZONE":              "Asia/Yekaterinburg",
	}
	fromEnv := Config{
		Addr:            "0.0.0.0:9000",
		DatabaseURL:     "postgres://env@db/aistat",
		DataDir:         "/srv/env",
		Demo:            true,
		BaseURL:         "http://env.example:9000",
		SecureCookies:   true,
		SessionLifetime: 48 * time.Hour,

		RequireSecondFactorForAdmins: true,
		SessionMaxAge:                96 * time.Hour,
		SessionRefresh:               30 * time.Minute,
		AdminSessionLifetime:         6 * time.Hour,
		AdminSessionMaxAge:           24 * time.Hour,
		ShortSessionLifetime:         8 * time.Hour,
		ListenDatabaseURL:            "postgres://env@db-direct/aistat",
		TrustedProxies:               []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.1/32")},
		MaxStreamsPerUser:            7,
		MaxStreams:                   70,
		CleanupInterval:              5 * time.Minute,
		DBMaxConns:                   12,
		MetricsAddr:                  "127.0.0.1:9100",
		Pprof:                        true,
		DefaultLocale:                aistat.LocaleEnglish,
		TimeZone:                     "Asia/Yekaterinburg",
	}
	allFlags := []string{
		"--addr", "127.0.0.1:0",
		"--database-url", "postgres://flag@db/aistat",
		"--data-dir", "/srv/flag",
		"--demo=false",
		"--base-url", "https://Flag.example/",
		"--secure-cookies=false",
		"--require-2fa-for-admins=false",
		"--session-lifetime", "2h",
		"--session-max-age", "3h",
		"--session-refresh", "1m",
		"--admin-session-lifetime", "90m",
		"--admin-session-max-age", "150m",
		"--short-session-lifetime", "100m",
		"--listen-database-url", "postgres://flag@db-direct/aistat",
		"--trusted-proxies", "fd00::/8",
		"--max-streams-per-user", "3",
		"--max-streams", "30",
		"--cleanup-interval", "1m",
		"--db-max-conns", "6",
		"--metrics-addr", "127.0.0.1:0",
		"--pprof=false",
		"--default-locale", "ru",
		"--time-zone", "UTC",
	}
	fromFlags := Config{
		Addr:                 "127.0.0.1:0",
		DatabaseURL:          "postgres://flag@db/aistat",
		DataDir:              "/srv/flag",
		BaseURL:              "https://Flag.example",
		SessionLifetime:      2 * time.Hour,
		SessionMaxAge:        3 * time.Hour,
		SessionRefresh:       time.Minute,
		AdminSessionLifetime: 90 * time.Minute,
		AdminSessionMaxAge:   150 * time.Minute,
		ShortSessionLifetime: 100 * time.Minute,
		ListenDatabaseURL:    "postgres://flag@db-direct/aistat",
		TrustedProxies:       []netip.Prefix{netip.MustParsePrefix("fd00::/8")},
		MaxStreamsPerUser:    3,
		MaxStreams:           30,
		CleanupInterval:      time.Minute,
		DBMaxConns:           6,
		MetricsAddr:          "127.0.0.1:0",
		DefaultLocale:        aistat.LocaleRussian,
		TimeZone:             "UTC",
	}
	with := func(change func(*Config)) Config {
		c := defaults
		change(&c)
		return c
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want Config
	}{
		{name: "defaults", want: defaults},
		{
			name: "database url turns the demo off",
			env:  map[string]string{"DATABASE_URL": "postgres://db/aistat"},
			want: with(func(c *Config) { c.DatabaseURL, c.Demo = "postgres://db/aistat", false }),
		},
		{
			name: "bare demo flag turns it on",
			args: []string{"--demo"},
			env:  map[string]string{"DATABASE_URL": "postgres://db/aistat"},
			want: with(func(c *Config) { c.DatabaseURL, c.Demo = "postgres://db/aistat", true }),
		},
		{
			name: "demo flag off for the embedded database",
			args: []string{"--demo=false"},
			want: with(func(c *Config) { c.Demo = false }),
		},
		{
			name: "demo environment on with a database url",
			env:  map[string]string{"DATABASE_URL": "postgres://db/aistat", "AISTAT_DEMO": "true"},
			want: with(func(c *Config) { c.DatabaseURL, c.Demo = "postgres://db/aistat", true }),
		},
		{name: "environment fallback for every flag", env: allEnv, want: fromEnv},
		{name: "flags beat the environment", args: allFlags, env: allEnv, want: fromFlags},
		{
			name: "a flag replaces a bad environment value",
			args: []string{"--session-lifetime", "2h", "--secure-cookies"},
			env:  map[string]string{"AISTAT_SESSION_LIFETIME": "soon", "AISTAT_SECURE_COOKIES": "maybe"},
			want: with(func(c *Config) { c.SessionLifetime, c.SecureCookies = 2*time.Hour, true }),
		},
		{
			name: "base url follows the address by default",
			args: []string{"--addr", "localhost:9000"},
			want: with(func(c *Config) { c.Addr, c.BaseURL = "localhost:9000", "http://localhost:9000" }),
		},
		{
			name: "base url of an address without host",
			args: []string{"--addr", ":9000"},
			want: with(func(c *Config) { c.Addr, c.BaseURL = ":9000", "http://localhost:9000" }),
		},
		{
			name: "base url of an IPv6 address",
			env:  map[string]string{"AISTAT_ADDR": "[::1]:9000"},
			want: with(func(c *Config) { c.Addr, c.BaseURL = "[::1]:9000", "http://[::1]:9000" }),
		},
		{
			name: "https base url turns secure cookies on",
			args: []string{"--base-url", "HTTPS://ai-stat.ru/"},
			want: with(func(c *Config) {
				c.BaseURL, c.SecureCookies, c.RequireSecondFactorForAdmins = "https://ai-stat.ru", true, true
			}),
		},
		{
			name: "https base url from the environment turns secure cookies on",
			env:  map[string]string{"AISTAT_BASE_URL": "https://ai-stat.ru:8443"},
			want: with(func(c *Config) {
				c.BaseURL, c.SecureCookies, c.RequireSecondFactorForAdmins = "https://ai-stat.ru:8443", true, true
			}),
		},
		{
			name: "explicit secure cookies off beats an https base url",
			args: []string{"--secure-cookies=false", "--require-2fa-for-admins=false"},
			env:  map[string]string{"AISTAT_BASE_URL": "https://ai-stat.ru"},
			want: with(func(c *Config) { c.BaseURL = "https://ai-stat.ru" }),
		},
		{
			name: "secure cookies off in the environment beats an https base url",
			args: []string{"--base-url", "https://ai-stat.ru"},
			env:  map[string]string{"AISTAT_SECURE_COOKIES": "false", "AISTAT_REQUIRE_2FA_FOR_ADMINS": "false"},
			want: with(func(c *Config) { c.BaseURL = "https://ai-stat.ru" }),
		},
		{
			name: "second factor for admins asked for on http",
			args: []string{"--require-2fa-for-admins"},
			want: with(func(c *Config) { c.RequireSecondFactorForAdmins = true }),
		},
		{
			name: "http base url leaves secure cookies off",
			args: []string{"--base-url", "http://intranet.example"},
			want: with(func(c *Config) { c.BaseURL = "http://intranet.example" }),
		},
		{
			name: "a base url flag replaces a bad environment value",
			args: []string{"--base-url", "http://ok.example"},
			env:  map[string]string{"AISTAT_BASE_URL": "not a url"},
			want: with(func(c *Config) { c.BaseURL = "http://ok.example" }),
		},
		{
			name: "profiles on the metrics listener",
			args: []string{"--metrics-addr", "127.0.0.1:9100", "--pprof"},
			want: with(func(c *Config) { c.MetricsAddr, c.Pprof = "127.0.0.1:9100", true }),
		},
		{
			name: "profiles off by flag despite the environment, without metrics",
			args: []string{"--pprof=false"},
			env:  map[string]string{"AISTAT_PPROF": "true"},
			want: defaults,
		},
		{
			name: "empty trusted proxies entries are skipped",
			args: []string{"--trusted-proxies", " , 127.0.0.1/32,"},
			want: with(func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} }),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfig(tt.args, envOf(tt.env), io.Discard)
			if err != nil {
				t.Fatalf("parseConfig: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // the flag or variable the error must name
	}{
		{name: "bad duration in environment", env: map[string]string{"AISTAT_SESSION_LIFETIME": "soon"}, want: "AISTAT_SESSION_LIFETIME"},
		{name: "bad duration flag", args: []string{"--session-max-age", "soon"}, want: "session-max-age"},
		{name: "bad secure cookies environment", env: map[string]string{"AISTAT_SECURE_COOKIES": "maybe"}, want: "AISTAT_SECURE_COOKIES"},
		{name: "bad secure cookies flag", args: []string{"--secure-cookies=maybe"}, want: "secure-cookies"},
		{name: "bad second factor flag", args: []string{"--require-2fa-for-admins=maybe"}, want: "require-2fa-for-admins"},
		{name: "bad second factor variable", env: map[string]string{"AISTAT_REQUIRE_2FA_FOR_ADMINS": "sometimes"}, want: "AISTAT_REQUIRE_2FA_FOR_ADMINS"},
		{name: "bad demo flag", args: []string{"--demo=perhaps"}, want: "--demo"},
		{name: "bad stream limit environment", env: map[string]string{"AISTAT_MAX_STREAMS": "many"}, want: "AISTAT_MAX_STREAMS"},
		{name: "zero stream limit flag", args: []string{"--max-streams-per-user", "0"}, want: "--max-streams-per-user"},
		{name: "negative stream limit environment", env: map[string]string{"AISTAT_MAX_STREAMS": "-1"}, want: "AISTAT_MAX_STREAMS"},
		{name: "bad demo environment", env: map[string]string{"AISTAT_DEMO": "perhaps"}, want: "AISTAT_DEMO"},
		{name: "bad trusted proxy flag", args: []string{"--trusted-proxies=not-a-cidr"}, want: "--trusted-proxies"},
		{name: "bad trusted proxy environment", env: map[string]string{"AISTAT_TRUSTED_PROXIES": "10.0.0.0/8,10.1.2.3"}, want: "AISTAT_TRUSTED_PROXIES"},
		{name: "refresh as long as lifetime", args: []string{"--session-refresh", "2h", "--session-lifetime", "2h"}, want: "--session-refresh"},
		{name: "refresh longer than lifetime", env: map[string]string{"AISTAT_SESSION_REFRESH": "400h"}, want: "--session-refresh"},
		{name: "zero lifetime", args: []string{"--session-lifetime", "0"}, want: "--session-lifetime"},
		{name: "negative max age", args: []string{"--session-max-age=-1h"}, want: "--session-max-age"},
		{name: "zero refresh in environment", env: map[string]string{"AISTAT_SESSION_REFRESH": "0s"}, want: "AISTAT_SESSION_REFRESH"},
		{name: "zero admin lifetime", args: []string{"--admin-session-lifetime", "0"}, want: "--admin-session-lifetime"},
		{name: "bad admin max age environment", env: map[string]string{"AISTAT_ADMIN_SESSION_MAX_AGE": "a week"}, want: "AISTAT_ADMIN_SESSION_MAX_AGE"},
		{name: "negative admin max age", env: map[string]string{"AISTAT_ADMIN_SESSION_MAX_AGE": "-1h"}, want: "AISTAT_ADMIN_SESSION_MAX_AGE"},
		{name: "refresh as long as admin lifetime", args: []string{"--session-refresh", "12h"}, want: "--admin-session-lifetime"},
		{name: "zero short lifetime", args: []string{"--short-session-lifetime", "0"}, want: "--short-session-lifetime"},
		{name: "refresh as long as short lifetime", args: []string{"--session-refresh", "2h", "--admin-session-lifetime", "3h", "--short-session-lifetime", "2h"}, want: "--short-session-lifetime"},
		{name: "stray positional argument", args: []string{"--addr", ":0", "extra"}, want: `"extra"`},
		{name: "base url without scheme", args: []string{"--base-url", "ai-stat.ru"}, want: `--base-url="ai-stat.ru": must start with http:// or https://`},
		{name: "base url of another scheme", args: []string{"--base-url=ftp://ai-stat.ru"}, want: "--base-url"},
		{name: "base url without host", args: []string{"--base-url", "https://"}, want: "--base-url"},
		{name: "base url with query", args: []string{"--base-url", "https://ai-stat.ru/?next=evil"}, want: "--base-url"},
		{name: "base url with fragment", args: []string{"--base-url", "https://ai-stat.ru#x"}, want: "--base-url"},
		{name: "base url with path", args: []string{"--base-url", "https://ai-stat.ru/aistat"}, want: "--base-url"},
		{name: "base url with credentials", args: []string{"--base-url", "https://u:s3cret@ai-stat.ru"}, want: "--base-url: must not hold a user name or password"},
		{name: "address that gives no base url", args: []string{"--addr", "a b:80"}, want: "--base-url is needed: --addr"},
		{name: "bad base url environment", env: map[string]string{"AISTAT_BASE_URL": "//ai-stat.ru"}, want: "AISTAT_BASE_URL"},
		{name: "profiles without metrics listener", args: []string{"--pprof"}, want: "--pprof needs --metrics-addr"},
		{name: "profiles from environment without metrics listener", env: map[string]string{"AISTAT_PPROF": "1"}, want: "AISTAT_PPROF needs --metrics-addr"},
		{name: "bad profiles environment", env: map[string]string{"AISTAT_PPROF": "yes"}, want: "AISTAT_PPROF"},
		{name: "unknown flag", args: []string{"--port", "80"}, want: "port"},
		{name: "default locale not of the site", args: []string{"--default-locale", "de"}, want: `--default-locale="de": want ru or en`},
		{name: "default locale as a tag", env: map[string]string{"AISTAT_DEFAULT_LOCALE": "ru-RU"}, want: "AISTAT_DEFAULT_LOCALE"},
		{name: "empty default locale", args: []string{"--default-locale="}, want: "--default-locale"},
		{name: "unknown time zone", args: []string{"--time-zone", "Mars/Olympus"}, want: `--time-zone="Mars/Olympus"`},
		{name: "machine's own time zone", env: map[string]string{"AISTAT_TIME_ZONE": "Local"}, want: "AISTAT_TIME_ZONE"},
		{name: "time zone as a path", args: []string{"--time-zone", "../../etc/passwd"}, want: "--time-zone"},
		{name: "SMTP URL of another scheme", env: map[string]string{"AISTAT_SMTP_URL": "http://mail.example.com"}, want: "AISTAT_SMTP_URL"},
		{name: "SMTP URL with a user and no password", args: []string{"--smtp-url", "smtp://user@mail.example.com"}, want: "--smtp-url"},
		{name: "SMTP URL with a query", args: []string{"--smtp-url", "smtp://u:secret@mail.example.com?tls=off"}, want: "--smtp-url"},
		{name: "mail from without a domain", args: []string{"--mail-from", "noreply"}, want: `--mail-from="noreply"`},
		{name: "mail from with a name", env: map[string]string{"AISTAT_MAIL_FROM": "Site <noreply@ai-stat.ru>"}, want: "AISTAT_MAIL_FROM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig(tt.args, envOf(tt.env), io.Discard)
			if err == nil {
				t.Fatal("parseConfig succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows a password", err)
			}
		})
	}
}

func TestMaskURL(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"", "(embedded default)"},
		{"postgres://app:s3cret@db.example.com:5432/aistat?sslmode=require", "postgres://app:xxxxx@db.example.com:5432/aistat?sslmode=require"},
		{"postgresql://app@db/aistat", "postgresql://app@db/aistat"},
		{"postgres://app@db/aistat?sslmode=disable&password=s3cret", "postgres://app@db/aistat?password=xxxxx&sslmode=disable"},
		{"postgres://app:s3cret@db/%zz", "(unparsable URL hidden)"},
		{"postgres://app:s3cret@a:5432,b:5433/aistat?target_session_attrs=read-write", "postgres://app:xxxxx@a:5432,b:5433/aistat?target_session_attrs=read-write"},
		{"postgres://app:s3cret@[::1]:5432,[::2]:5433/aistat", "postgres://app:xxxxx@/aistat?host=%3A%3A1%2C%3A%3A2&port=5432%2C5433"},
		{"postgres://app:s3cret@%2Frun%2Fa,%2Frun%2Fb/aistat", "postgres://app:xxxxx@/aistat?host=%2Frun%2Fa%2C%2Frun%2Fb"},
		{"host=db user=app password=s3cret dbname=aistat", "host=db user=app password=xxxxx dbname=aistat"},
		{"host=db password = s3cret user=app", "host=db password=xxxxx user=app"},
		{`host=db password='s3 cr\'et' user=app`, "host=db password=xxxxx user=app"},
		{`host='/run/my dir' user=app`, `host='/run/my dir' user=app`},
		{"host=db password='s3cret", "(unparsable connection string hidden)"},
		{"host=db s3cret", "(unparsable connection string hidden)"},
	}
	for _, tt := range tests {
		got := maskURL(tt.dsn)
		if got != tt.want {
			t.Errorf("maskURL(%q) = %q, want %q", tt.dsn, got, tt.want)
		}
		if strings.Contains(got, "s3") {
			t.Errorf("maskURL(%q) = %q shows the password", tt.dsn, got)
		}
	}
}

func TestMaskSMTPURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                                    "(none: mails are printed to the log)",
		"smtp://mail.example.com:587":         "smtp://mail.example.com:587",
		"smtps://bot:s3cret@mail.example.com": "smtps://bot:" + masked + "@mail.example.com",
	} {
		if got := maskSMTPURL(in); got != want {
			t.Errorf("maskSMTPURL(%q) = %q, want %q", in, got, want)
		}
	}
}
