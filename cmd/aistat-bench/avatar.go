package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"mime/multipart"
	"os"
	"path/filepath"
)

// Size of the picture the upload scenario sends: a phone's photo as a
// browser or the phone itself typically scales it down to share it.
const uploadWidth, uploadHeight = 1600, 1200

// uploadRequest writes the body of an avatar upload (the multipart form
// with a JPEG in the field avatar) into dir and returns the wrk script that
// sends it as the settings page's script does.
func uploadRequest(dir string) (string, error) {
	img := image.NewRGBA(image.Rect(0, 0, uploadWidth, uploadHeight))
	for y := range uploadHeight {
		for x := range uploadWidth {
			// A gradient with fine detail, so that the JPEG is of a
			// photograph's size rather than of a flat colour's.
			img.Set(x, y, color.RGBA{R: uint8(x / 7), G: uint8(y / 5), B: uint8((x*y)>>4 ^ x), A: 0xff})
		}
	}
	var pic bytes.Buffer
	if err := jpeg.Encode(&pic, img, &jpeg.Options{Quality: 90}); err != nil {
		return "", err
	}
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	part, err := w.CreateFormFile("avatar", "photo.jpg")
	if err != nil {
		return "", err
	}
	if _, err := part.Write(pic.Bytes()); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "upload.body")
	if err := os.WriteFile(path, body.Bytes(), 0o644); err != nil {
		return "", err
	}
	return fmt.Sprintf(`
local f = assert(io.open(%q, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = %q
wrk.headers["Accept"] = "application/json"
`, path, w.FormDataContentType()), nil
}
