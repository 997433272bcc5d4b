package i18n

import (
	"strconv"
	"time"
)

// Time formats t for people to read in the localizer's language and in
// zone: "27 нояб. 2026, 10:51 MSK", "27 Nov 2026, 10:51 MSK". Every page
// shows its times so, each in a <time datetime> with the instant in UTC.
func (l *Localizer) Time(t time.Time, zone *time.Location) string {
	if zone == nil {
		zone = time.UTC
	}
	t = t.In(zone)
	b := make([]byte, 0, 32)
	b = strconv.AppendInt(b, int64(t.Day()), 10)
	b = append(b, ' ')
	b = append(b, l.months[t.Month()-1]...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(t.Year()), 10)
	b = append(b, ", "...)
	b = t.AppendFormat(b, "15:04 MST")
	return string(b)
}

// Ago says in words how long before now t was: "just now", "2 minutes ago",
// "2 минуты назад", "3 hours ago", "5 days ago", counted in the language's
// plural forms. A time more than 30 days before now is its date (Time, in
// zone); one after now, as a clock a little ahead may give, is just now.
func (l *Localizer) Ago(t, now time.Time, zone *time.Location) string {
	const day = 24 * time.Hour
	switch d := now.Sub(t); {
	case d < time.Minute:
		return l.T("time.justNow")
	case d < time.Hour:
		return l.N("time.minutesAgo", int(d/time.Minute))
	case d < day:
		return l.N("time.hoursAgo", int(d/time.Hour))
	case d <= 30*day:
		return l.N("time.daysAgo", int(d/day))
	}
	return l.Time(t, zone)
}
