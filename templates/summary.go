package templates

import "strings"

// ErrorSummary is the list at the top of a form that was refused: what
// went wrong, each field's message a link to the field. The page focuses it
// on load, so that the person starts from what to fix rather than from the
// top of the page. A summary without items renders hidden: the page's
// script fills it when a form sent with fetch is refused.
type ErrorSummary struct {
	// ID names the summary's element, ID+"-errors".
	ID    string
	Items []SummaryItem
}

// SummaryItem is one message of an ErrorSummary; Field is the id of the
// field it is about, "" for a message about the whole form.
type SummaryItem struct {
	Field   string
	Message string
}

// newSummary builds the summary of form id: message, about the whole form,
// first, then the messages of errs in the order of fields, the order they
// have on the page. A field is its key in errs, or "key#id" when the
// element's id differs from it.
func newSummary(id, message string, errs map[string]string, fields ...string) ErrorSummary {
	s := ErrorSummary{ID: id}
	if message != "" {
		s.Items = append(s.Items, SummaryItem{Message: message})
	}
	for _, f := range fields {
		key, elem, ok := strings.Cut(f, "#")
		if !ok {
			elem = key
		}
		if msg := errs[key]; msg != "" {
			s.Items = append(s.Items, SummaryItem{Field: elem, Message: msg})
		}
	}
	return s
}
