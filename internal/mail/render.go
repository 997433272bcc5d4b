package mail

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"strings"
	texttemplate "text/template"

	"aistat"
	"aistat/internal/i18n"
)

// Message is a mail ready to send.
type Message struct {
	From    string
	To      string
	Subject string
	// Text and HTML are the same words, as plain text and as HTML.
	Text string
	HTML string
	// MessageID is the Message-ID without its angle brackets, the same at
	// every attempt to send the mail.
	MessageID string
	// Links are the absolute links the mail carries.
	Links []string
}

// kinds are the mails the renderer knows and whether each carries a link
// (data "path") the reader is to follow.
var kinds = map[aistat.MailKind]bool{
	aistat.MailPasswordReset:   true,
	aistat.MailInvitation:      true,
	aistat.MailEmailConfirm:    true,
	aistat.MailPasswordChanged: false,
	aistat.MailEmailChanged:    false,
	aistat.MailNewDevice:       false,
	aistat.MailAdminReset:      false,
	aistat.MailDisabled:        false,

	aistat.MailTOTPEnabled:          false,
	aistat.MailTOTPDisabled:         false,
	aistat.MailRecoveryCodesRenewed: false,
	aistat.MailRecoveryCodeUsed:     false,
	aistat.MailSecondFactorsReset:   false,
	aistat.MailPasskeyAdded:         false,
	aistat.MailPasskeyRemoved:       false,
	aistat.MailPasskeyCloned:        false,
}

// body is what both templates are given.
type body struct {
	Lang      aistat.Locale
	Subject   string
	Greeting  string
	Paragraph string
	Action    string
	Link      string
	LinkNote  string
	Footer    string
}

var textTemplate = texttemplate.Must(texttemplate.New("text").Parse(
	`{{.Greeting}}

{{.Paragraph}}
{{- if .Link}}

{{.Action}}:
{{.Link}}
{{- end}}

-- 
{{.Footer}}
`))

// htmlTemplate has no image, no script and no remote resource of any
// kind: nothing in it fetches anything when the mail is opened.
var htmlTemplate = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}">
<head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body>
<p>{{.Greeting}}</p>
<p>{{.Paragraph}}</p>
{{- if .Link}}
<p><a href="{{.Link}}">{{.Action}}</a></p>
<p>{{.LinkNote}}<br>{{.Link}}</p>
{{- end}}
<hr>
<p>{{.Footer}}</p>
</body>
</html>
`))

// Renderer writes mails in their recipient's language.
type Renderer struct {
	catalogue     *i18n.Catalogue
	defaultLocale aistat.Locale
	baseURL       string
	site          string
	from          string
	domain        string
}

// NewRenderer returns a renderer whose links start with baseURL (as
// handlers.ParseBaseURL returns it), whose mails come from from and are in
// defaultLocale for recipients who chose no language.
func NewRenderer(catalogue *i18n.Catalogue, defaultLocale aistat.Locale, baseURL, from string) (*Renderer, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Hostname() == "" {
		return nil, fmt.Errorf("mail: base URL %q names no host", baseURL)
	}
	return &Renderer{
		catalogue:     catalogue,
		defaultLocale: defaultLocale,
		baseURL:       strings.TrimSuffix(baseURL, "/"),
		site:          u.Host,
		from:          from,
		domain:        u.Hostname(),
	}, nil
}

// DefaultFrom is the sender of mails when --mail-from is not given: a
// no-reply address at the base URL's host.
func DefaultFrom(baseURL string) string {
	u, err := url.Parse(baseURL)
	if err != nil || u.Hostname() == "" {
		return "noreply@localhost"
	}
	return "noreply@" + u.Hostname()
}

// Render writes m as it is sent.
func (r *Renderer) Render(m *aistat.OutboxMail) (*Message, error) {
	hasLink, ok := kinds[m.Kind]
	if !ok {
		return nil, fmt.Errorf("mail %d: unknown kind %q", m.ID, m.Kind)
	}
	locale := m.Locale
	if _, ok := aistat.ParseLocale(string(locale)); !ok {
		locale = r.defaultLocale
	}
	loc := r.catalogue.Localizer(locale)
	args := map[string]any{"Site": r.site}
	for k, v := range m.Data {
		args[strings.ToUpper(k[:1])+k[1:]] = v
	}
	if ua, ok := m.Data["userAgent"]; ok {
		d := aistat.ParseUserAgent(ua)
		args["Device"] = loc.F("mail.device", map[string]any{"Browser": d.Browser, "System": d.System})
	}
	prefix := "mail." + string(m.Kind) + "."
	b := body{
		Lang:      locale,
		Subject:   loc.F(prefix+"subject", args),
		Greeting:  loc.T("mail.greeting"),
		Paragraph: loc.F(prefix+"body", args),
		Footer:    loc.F("mail.footer", args),
	}
	msg := &Message{From: r.from, To: m.To, Subject: b.Subject, MessageID: m.MessageID + "@" + r.domain}
	if hasLink {
		path := m.Data["path"]
		// The link is the base URL's and a path of this site, never an
		// address of anyone's choosing.
		if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") || strings.ContainsAny(path, "\\\r\n") {
			return nil, fmt.Errorf("mail %d: link path %q is not a path of the site", m.ID, path)
		}
		b.Link = r.baseURL + path
		b.Action = loc.T(prefix + "action")
		b.LinkNote = loc.T("mail.linkNote")
		msg.Links = []string{b.Link}
	}
	var text, html bytes.Buffer
	if err := textTemplate.Execute(&text, b); err != nil {
		return nil, fmt.Errorf("mail %d: text: %w", m.ID, err)
	}
	if err := htmlTemplate.Execute(&html, b); err != nil {
		return nil, fmt.Errorf("mail %d: html: %w", m.ID, err)
	}
	msg.Text, msg.HTML = text.String(), html.String()
	return msg, nil
}
