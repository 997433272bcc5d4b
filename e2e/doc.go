// Package e2e tests the site the way people use it: headless Chromium
// drives the real handlers, sessions and live hub, served on a throwaway
// PostgreSQL database.
//
// The tests need Chromium (Debian package chromium; CHROME_PATH names
// another binary). Without it they skip, except when CI=true, where a
// missing browser fails them. A failing test saves a screenshot of every
// open tab into a temporary folder and logs where.
//
// TestScreenshots regenerates the pictures of the README when run with
// -screenshots=<folder> (make screenshots); without the flag it skips.
package e2e
