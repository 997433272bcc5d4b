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
