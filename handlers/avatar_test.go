package handlers_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"aistat"
)

// The files in testdata/avatars are the Go project's test images (BSD
// licence): a CMYK JPEG with Adobe's marker, its RGB rendering as PNG, and
// a lossy WebP (golang.org/x/image), which no Go package can encode.

var avatarPathPattern = regexp.MustCompile(`^/avatars/[0-9a-f]{64}\.jpg$`)

// avatarPart is the upload form's body: the file in the field "avatar" as
// a browser sends it, with a file name and a declared type.
func avatarPart(tb testing.TB, filename, partType string, data []byte) (string, string) {
	tb.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="avatar"; filename="`+filename+`"`)
	h.Set("Content-Type", partType)
	part, err := w.CreatePart(h)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := part.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return w.FormDataContentType(), body.String()
}

// upload sends data as the settings page's script does: JSON back.
func (c *client) upload(filename, partType string, data []byte, headers ...string) *response {
	c.tb.Helper()
	ct, body := avatarPart(c.tb, filename, partType, data)
	return c.do(http.MethodPost, "/settings/avatar", ct, body, append([]string{"Accept", "application/json"}, headers...)...)
}

// uploaded is the user of a successful upload's answer.
func uploaded(tb testing.TB, res *response) aistat.User {
	tb.Helper()
	wantStatus(tb, res, http.StatusOK)
	var body struct{ User aistat.User }
	if err := json.Unmarshal([]byte(res.body), &body); err != nil {
		tb.Fatalf("answer %q: %v", res.body, err)
	}
	if !avatarPathPattern.MatchString(body.User.AvatarURL) {
		tb.Fatalf("avatarUrl %q, want /avatars/<sha-256>.jpg", body.User.AvatarURL)
	}
	return body.User
}

// fetchAvatar reads a stored picture back through the site and decodes it.
func fetchAvatar(tb testing.TB, c *client, path string, size int) image.Image {
	tb.Helper()
	res := c.get(path)
	wantStatus(tb, res, http.StatusOK)
	if ct := res.Header.Get("Content-Type"); ct != "image/jpeg" {
		tb.Fatalf("Content-Type %q, want image/jpeg", ct)
	}
	img, err := jpeg.Decode(strings.NewReader(res.body))
	if err != nil {
		tb.Fatalf("decode %s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != size || b.Dy() != size {
		tb.Fatalf("%s is %v, want %d×%d", path, b, size, size)
	}
	return img
}

func encodePNG(tb testing.TB, img image.Image) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func encodeJPEG(tb testing.TB, img image.Image) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func encodeGIF(tb testing.TB, g *gif.GIF) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// filled is a w×h picture of one colour.
func filled(w, h int, c color.Color) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(c), image.Point{}, draw.Src)
	return img
}

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile("testdata/avatars/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// near reports whether got is within tol of want in each of R, G and B.
func near(got color.Color, want color.RGBA, tol int) bool {
	r, g, b, _ := got.RGBA()
	d := func(x uint32, y uint8) bool { return abs(int(x>>8)-int(y)) <= tol }
	return d(r, want.R) && d(g, want.G) && d(b, want.B)
}

func abs(x int) int { return max(x, -x) }

// TestServer_AvatarFormats uploads pictures of every format and kind the
// site takes, made here, and reads them back: a 256-pixel and a 64-pixel
// JPEG of the centre square, in the right colours.
func TestServer_AvatarFormats(t *testing.T) {
	_, _, c := openWithUser(t, "pics@example.com", "Pics", aistat.RoleViewer)

	red := color.RGBA{R: 0xff, A: 0xff}
	blue := color.RGBA{B: 0xff, A: 0xff}
	paletted := image.NewPaletted(image.Rect(0, 0, 90, 60), color.Palette{red, blue})
	for y := range 60 {
		for x := 45; x < 90; x++ {
			paletted.SetColorIndex(x, y, 1)
		}
	}
	frame := func(c color.Color) *image.Paletted {
		f := image.NewPaletted(image.Rect(0, 0, 40, 40), palette.Plan9)
		draw.Draw(f, f.Bounds(), image.NewUniform(c), image.Point{}, draw.Src)
		return f
	}
	rgba64 := image.NewRGBA64(image.Rect(0, 0, 50, 50))
	draw.Draw(rgba64, rgba64.Bounds(), image.NewUniform(color.RGBA64{R: 0x8000, G: 0x4000, B: 0xc000, A: 0xffff}), image.Point{}, draw.Src)
	gray16 := image.NewGray16(image.Rect(0, 0, 50, 50))
	draw.Draw(gray16, gray16.Bounds(), image.NewUniform(color.Gray16{Y: 0x4000}), image.Point{}, draw.Src)
	// The centre third of a wide picture is green, the sides black: the
	// crop keeps only green.
	wide := filled(300, 100, color.Black)
	draw.Draw(wide, image.Rect(100, 0, 200, 100), image.NewUniform(color.RGBA{G: 0xff, A: 0xff}), image.Point{}, draw.Src)

	tests := []struct {
		name, file string
		data       []byte
		// want is the colour at (at, at) of the 256-pixel result.
		at   int
		want color.RGBA
	}{
		{"PNG", "a.png", encodePNG(t, filled(120, 80, red)), 128, red},
		{"PNGCropsTheCentre", "wide.png", encodePNG(t, wide), 10, color.RGBA{G: 0xff}},
		{"JPEG", "a.jpg", encodeJPEG(t, filled(80, 120, blue)), 128, blue},
		{"OnePixel", "dot.png", encodePNG(t, filled(1, 1, red)), 128, red},
		// Large enough to be scaled down twelvefold, small enough for the
		// race detector on a busy machine (a 12-megapixel photo takes it
		// over ten seconds there; BenchmarkMakeAvatar times one without).
		{"Large", "big.png", encodePNG(t, filled(1600, 1200, blue)), 128, blue},
		{"PNG16BitColour", "deep.png", encodePNG(t, rgba64), 128, color.RGBA{R: 0x80, G: 0x40, B: 0xc0}},
		{"PNG16BitGray", "gray.png", encodePNG(t, gray16), 128, color.RGBA{R: 0x40, G: 0x40, B: 0x40}},
		{"PNGPalettedLeft", "pal.png", encodePNG(t, paletted), 40, red},
		{"PNGPalettedRight", "pal.png", encodePNG(t, paletted), 216, blue},
		// Half-transparent red over the white background.
		{"PNGTransparent", "glass.png", encodePNG(t, filled(60, 60, color.NRGBA{R: 0xff, A: 0x80})), 128, color.RGBA{R: 0xff, G: 0x7f, B: 0x7f}},
		{"PNGFullyTransparent", "clear.png", encodePNG(t, filled(60, 60, color.NRGBA{})), 128, color.RGBA{R: 0xff, G: 0xff, B: 0xff}},
		{"GIF", "a.gif", encodeGIF(t, &gif.GIF{Image: []*image.Paletted{frame(red)}, Delay: []int{0}}), 128, red},
		{"GIFAnimatedFirstFrame", "anim.gif", encodeGIF(t, &gif.GIF{
			Image: []*image.Paletted{frame(red), frame(blue), frame(blue)}, Delay: []int{10, 10, 10}}), 128, red},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := uploaded(t, c.upload(tt.file, "image/png", tt.data))
			large := fetchAvatar(t, c, u.AvatarURL, aistat.AvatarSize)
			if got := large.At(tt.at, tt.at); !near(got, tt.want, 24) {
				t.Errorf("colour at (%d, %d) = %v, want about %v", tt.at, tt.at, color.RGBAModel.Convert(got), tt.want)
			}
			small := fetchAvatar(t, c, u.AvatarURL+"?size=64", aistat.AvatarSmallSize)
			if got := small.At(tt.at/4, tt.at/4); !near(got, tt.want, 24) {
				t.Errorf("small colour at (%d, %d) = %v, want about %v", tt.at/4, tt.at/4, color.RGBAModel.Convert(got), tt.want)
			}
		})
	}

	t.Run("WebP", func(t *testing.T) {
		u := uploaded(t, c.upload("a.webp", "image/webp", readTestdata(t, "blue-purple-pink.lossy.webp")))
		img := fetchAvatar(t, c, u.AvatarURL, aistat.AvatarSize)
		// The picture's corners are blue and pink: not one flat colour.
		if near(img.At(10, 10), color.RGBA{R: 0xff, G: 0xff, B: 0xff}, 10) || near(img.At(10, 10), color.RGBA{}, 10) {
			t.Errorf("corner %v: the WebP did not decode", img.At(10, 10))
		}
	})

	// A CMYK JPEG (Adobe's, inverted, as Photoshop writes them) comes out
	// as its RGB rendering does: colours neither inverted nor lost.
	t.Run("CMYKJPEG", func(t *testing.T) {
		cmyk := fetchAvatar(t, c, uploaded(t, c.upload("cmyk.jpg", "image/jpeg", readTestdata(t, "video-001.cmyk.jpeg"))).AvatarURL, aistat.AvatarSize)
		ref := fetchAvatar(t, c, uploaded(t, c.upload("ref.png", "image/png", readTestdata(t, "video-001.cmyk.png"))).AvatarURL, aistat.AvatarSize)
		var diff, n int
		for y := 0; y < aistat.AvatarSize; y += 4 {
			for x := 0; x < aistat.AvatarSize; x += 4 {
				r1, g1, b1, _ := cmyk.At(x, y).RGBA()
				r2, g2, b2, _ := ref.At(x, y).RGBA()
				diff += abs(int(r1>>8)-int(r2>>8)) + abs(int(g1>>8)-int(g2>>8)) + abs(int(b1>>8)-int(b2>>8))
				n += 3
			}
		}
		if mean := diff / n; mean > 8 {
			t.Errorf("mean difference from the RGB rendering %d per channel, want at most 8", mean)
		}
	})

	t.Run("SamePictureSameAddress", func(t *testing.T) {
		data := encodePNG(t, filled(30, 30, red))
		first := uploaded(t, c.upload("a.png", "image/png", data)).AvatarURL
		if again := uploaded(t, c.upload("b.png", "image/png", data)).AvatarURL; again != first {
			t.Errorf("the same picture again: %q, want %q", again, first)
		}
	})
}

// exifSegment is a JPEG APP1 segment whose EXIF block holds the
// orientation tag, and extra entries of the first directory after it, in
// the byte order order.
func exifSegment(orientation uint16, order binary.ByteOrder, extra ...[12]byte) []byte {
	var t bytes.Buffer
	if order == binary.ByteOrder(binary.BigEndian) {
		t.WriteString("MM")
	} else {
		t.WriteString("II")
	}
	w := func(v any) { _ = binary.Write(&t, order, v) }
	w(uint16(42))
	w(uint32(8))
	w(uint16(1 + len(extra)))
	w(uint16(0x0112))
	w(uint16(3))
	w(uint32(1))
	w(orientation)
	w(uint16(0))
	for _, e := range extra {
		t.Write(e[:])
	}
	w(uint32(0))
	payload := append([]byte("Exif\x00\x00"), t.Bytes()...)
	return append([]byte{0xFF, 0xE1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}, payload...)
}

// withSegments puts segments right after a JPEG's start marker, where a
// camera writes them.
func withSegments(jpg []byte, segments ...[]byte) []byte {
	out := append([]byte{}, jpg[:2]...)
	for _, s := range segments {
		out = append(out, s...)
	}
	return append(out, jpg[2:]...)
}

// TestServer_AvatarOrientation: a photo stored sideways or mirrored, as
// cameras store them, with the EXIF orientation that says how to show it,
// comes out upright: red top left, green top right, blue bottom left,
// yellow bottom right. Each stored picture is wider than it is high, with
// black bands that the crop removes.
func TestServer_AvatarOrientation(t *testing.T) {
	_, _, c := openWithUser(t, "exif@example.com", "Exif", aistat.RoleViewer)

	r := color.RGBA{R: 0xff, A: 0xff}
	g := color.RGBA{G: 0xff, A: 0xff}
	b := color.RGBA{B: 0xff, A: 0xff}
	y := color.RGBA{R: 0xff, G: 0xff, A: 0xff}
	upright := [4]color.RGBA{r, g, b, y}
	// stored is what the camera wrote for each orientation: top left, top
	// right, bottom left, bottom right of the centre square.
	stored := map[uint16][4]color.RGBA{
		1: {r, g, b, y},
		2: {g, r, y, b}, // mirrored
		3: {y, b, g, r}, // upside down
		4: {b, y, r, g}, // mirrored upside down
		5: {r, b, g, y}, // mirrored about the main diagonal
		6: {g, y, r, b}, // a quarter turn anticlockwise
		7: {y, g, b, r}, // mirrored about the other diagonal
		8: {b, r, y, g}, // a quarter turn clockwise
	}
	for o := uint16(1); o <= 8; o++ {
		t.Run(string(rune('0'+o)), func(t *testing.T) {
			img := filled(240, 160, color.Black)
			q := stored[o]
			for i, rect := range []image.Rectangle{
				image.Rect(40, 0, 120, 80), image.Rect(120, 0, 200, 80),
				image.Rect(40, 80, 120, 160), image.Rect(120, 80, 200, 160),
			} {
				draw.Draw(img, rect, image.NewUniform(q[i]), image.Point{}, draw.Src)
			}
			var order binary.ByteOrder = binary.LittleEndian
			if o%2 == 0 {
				order = binary.BigEndian
			}
			u := uploaded(t, c.upload("photo.jpg", "image/jpeg", withSegments(encodeJPEG(t, img), exifSegment(o, order))))
			out := fetchAvatar(t, c, u.AvatarURL, aistat.AvatarSize)
			for i, at := range []image.Point{{64, 64}, {192, 64}, {64, 192}, {192, 192}} {
				if got := out.At(at.X, at.Y); !near(got, upright[i], 40) {
					t.Errorf("at %v: %v, want about %v", at, color.RGBAModel.Convert(got), upright[i])
				}
			}
		})
	}
}

// TestServer_AvatarMetadataDropped: what a photo carries besides its
// pixels (the EXIF block with a GPS directory, a comment) is not in the
// stored picture.
func TestServer_AvatarMetadataDropped(t *testing.T) {
	_, _, c := openWithUser(t, "gps@example.com", "Gps", aistat.RoleViewer)

	// A GPSInfo pointer (tag 0x8825) beside the orientation, and a comment
	// segment naming a place.
	var gps [12]byte
	binary.LittleEndian.PutUint16(gps[0:], 0x8825)
	binary.LittleEndian.PutUint16(gps[2:], 4)
	binary.LittleEndian.PutUint32(gps[4:], 1)
	const place = "55.7539N 37.6208E Red Square"
	comment := append([]byte{0xFF, 0xFE, 0, byte(len(place) + 2)}, place...)
	data := withSegments(encodeJPEG(t, filled(64, 64, color.RGBA{R: 0x40, G: 0x80, B: 0xc0, A: 0xff})),
		exifSegment(1, binary.LittleEndian, gps), comment)
	u := uploaded(t, c.upload("trip.jpg", "image/jpeg", data))
	for _, path := range []string{u.AvatarURL, u.AvatarURL + "?size=64"} {
		body := c.get(path).body
		for _, leak := range []string{"Exif", place, "Red Square"} {
			if strings.Contains(body, leak) {
				t.Errorf("%s holds %q", path, leak)
			}
		}
	}
}

// pngWithSize is a real PNG whose header claims w×h: its data, one pixel's
// worth, is a few bytes, as a decompression bomb's header would be.
func pngWithSize(tb testing.TB, w, h uint32) []byte {
	tb.Helper()
	data := encodePNG(tb, filled(1, 1, color.White))
	// The signature (8 bytes), IHDR's length and type (8), then its width
	// and height, then the rest of IHDR and its CRC over type and data.
	binary.BigEndian.PutUint32(data[16:], w)
	binary.BigEndian.PutUint32(data[20:], h)
	binary.BigEndian.PutUint32(data[29:], crc32.ChecksumIEEE(data[12:29]))
	return data
}

// TestServer_AvatarRefused: everything that is not a picture the site
// takes is refused with the field named, and changes nothing: no row of
// the user written, no picture stored.
func TestServer_AvatarRefused(t *testing.T) {
	e, u, c := openWithUser(t, "bad@example.com", "Bad", aistat.RoleViewer)
	before := readUserRow(t, e, u.ID)

	good := encodePNG(t, filled(50, 50, color.White))
	goodJPEG := encodeJPEG(t, filled(50, 50, color.White))
	multipartBody := func(field string, data []byte) (string, string) {
		var body bytes.Buffer
		w := multipart.NewWriter(&body)
		fw, _ := w.CreateFormFile(field, "a.png")
		_, _ = fw.Write(data)
		_ = w.Close()
		return w.FormDataContentType(), body.String()
	}
	emptyCT, emptyBody := multipartBody("avatar", nil)
	otherCT, otherBody := multipartBody("picture", good)
	goodCT, goodBody := multipartBody("avatar", good)
	hugeCT, hugeBody := multipartBody("avatar", bytes.Repeat([]byte{0x89}, 12<<20))
	// A large field before the picture counts towards the bound too.
	var padded bytes.Buffer
	pw := multipart.NewWriter(&padded)
	_ = pw.WriteField("padding", strings.Repeat("x", 11<<20))
	fw, _ := pw.CreateFormFile("avatar", "a.png")
	_, _ = fw.Write(good)
	_ = pw.Close()

	tests := []struct {
		name, contentType, body string
		headers                 []string
		status                  int
		// field is the message naming "avatar"; "" for refusals that are
		// about the request rather than the field.
		field string
	}{
		{"TruncatedPNG", "", string(good[:len(good)/2]), nil, 422, aistat.AvatarDamagedRule},
		{"TruncatedJPEG", "", string(goodJPEG[:len(goodJPEG)/2]), nil, 422, aistat.AvatarDamagedRule},
		{"TextNamedPNG", "", "this is not a picture, only its name says so\n", nil, 422, aistat.AvatarFormatRule},
		{"HTMLNamedPNG", "", "<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", nil, 422, aistat.AvatarFormatRule},
		{"Over40Megapixels", "", string(pngWithSize(t, 8000, 5001)), nil, 422, aistat.AvatarPixelsRule},
		{"ZeroWidth", "", string(pngWithSize(t, 0, 10)), nil, 422, aistat.AvatarDamagedRule},
		{"EmptyFile", emptyCT, emptyBody, nil, 422, aistat.AvatarMissingRule},
		{"OtherField", otherCT, otherBody, nil, 422, aistat.AvatarMissingRule},
		{"TwelveMegabytes", hugeCT, hugeBody, nil, 413, aistat.AvatarTooLargeRule},
		{"FormNotMultipart", "application/x-www-form-urlencoded", url.Values{"avatar": {string(good)}}.Encode(), nil, 415, "Send the picture as multipart/form-data."},
		{"JSONBody", "application/json", `{"avatar": "x"}`, nil, 415, "Send the picture as multipart/form-data."},
		{"NoContentType", "-", string(good), nil, 415, "Send the picture as multipart/form-data."},
		{"BrokenMultipart", "multipart/form-data; boundary=x", "--x\r\nbroken", nil, 400, ""},
		{"CrossOrigin", goodCT, goodBody, []string{"Sec-Fetch-Site", "cross-site"}, 403, ""},
		{"OtherOrigin", goodCT, goodBody, []string{"Origin", "https://evil.example"}, 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var res *response
			headers := append([]string{"Accept", "application/json"}, tt.headers...)
			switch tt.contentType {
			case "":
				res = c.upload("a.png", "image/png", []byte(tt.body), tt.headers...)
			case "-":
				res = c.do(http.MethodPost, "/settings/avatar", "", tt.body, headers...)
			default:
				res = c.do(http.MethodPost, "/settings/avatar", tt.contentType, tt.body, headers...)
			}
			wantStatus(t, res, tt.status)
			var body struct {
				Error  string
				Fields map[string]string
			}
			if err := json.Unmarshal([]byte(res.body), &body); err != nil {
				t.Fatalf("answer %q is not JSON: %v", res.body, err)
			}
			if tt.field != "" && body.Fields["avatar"] != tt.field {
				t.Errorf("fields %v, want avatar: %q", body.Fields, tt.field)
			}
			if got := readUserRow(t, e, u.ID); got != before {
				t.Errorf("user row %+v, want unchanged %+v", got, before)
			}
			if n := avatarCount(t, e); n != 0 {
				t.Errorf("%d pictures stored, want none", n)
			}
		})
	}

	// A body of unknown length (chunked) is cut off at the bound as it
	// arrives, not read whole: the picture after a large field is never
	// reached.
	t.Run("ElevenMegabytesChunked", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, e.server.URL+"/settings/avatar", io.MultiReader(&padded))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", pw.FormDataContentType())
		req.Header.Set("Accept", "application/json")
		res, err := c.http.Do(req)
		if err != nil {
			// The server may close the connection while the client still
			// sends: the refusal arrived or the connection ended; either
			// way nothing may be stored.
			t.Logf("upload cut off: %v", err)
		} else {
			res.Body.Close()
			if res.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("status %d, want 413", res.StatusCode)
			}
		}
		if n := avatarCount(t, e); n != 0 {
			t.Errorf("%d pictures stored, want none", n)
		}
	})

	t.Run("Anonymous", func(t *testing.T) {
		anon := newClient(t, e)
		res := anon.upload("a.png", "image/png", good)
		wantStatus(t, res, http.StatusUnauthorized)
		wantBody(t, res, `"error":"unauthenticated"`)
		ct, body := avatarPart(t, "a.png", "image/png", good)
		wantStatus(t, anon.do(http.MethodPost, "/settings/avatar", ct, body), http.StatusUnauthorized)
		if n := avatarCount(t, e); n != 0 {
			t.Errorf("%d pictures stored, want none", n)
		}
	})

	// The declared type of the part is the client's word: the content
	// decides.
	t.Run("DeclaredTypeIgnored", func(t *testing.T) {
		uploaded(t, c.upload("notes.txt", "text/plain", good))
	})
}

// openWithUser starts a site with one user of email, name and role, and a
// client signed in as them.
func openWithUser(tb testing.TB, email, name string, role aistat.Role) (*env, *aistat.User, *client) {
	tb.Helper()
	e := mustOpenEnv(tb)
	u := mustCreateUser(tb, e, email, name, role)
	c := newClient(tb, e)
	c.login(email)
	return e, u, c
}

func avatarCount(tb testing.TB, e *env) int {
	tb.Helper()
	var n int
	if err := e.db.QueryRow(`SELECT count(*) FROM avatars`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestServer_AvatarBomb: a file of a few bytes whose header claims
// 30000×30000 pixels (3.6 GB decoded) is refused from its header at once,
// and the process allocates next to nothing for it.
func TestServer_AvatarBomb(t *testing.T) {
	_, _, c := openWithUser(t, "bomb@example.com", "Bomb", aistat.RoleViewer)
	bomb := pngWithSize(t, 30000, 30000)
	ct, body := avatarPart(t, "bomb.png", "image/png", bomb)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	res := c.do(http.MethodPost, "/settings/avatar", ct, body, "Accept", "application/json")
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)

	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, aistat.AvatarPixelsRule)
	// Generous bounds: the request, the session and the database's answers
	// take some; decoding would take 3.6 GB and seconds.
	const maxAlloc = 64 << 20
	if got := after.TotalAlloc - before.TotalAlloc; got > maxAlloc {
		t.Errorf("allocated %d MB for the refusal, want at most %d", got>>20, maxAlloc>>20)
	}
	if elapsed > 5*time.Second {
		t.Errorf("refusal took %v", elapsed)
	}
}

// TestServer_AvatarForm is the picture form without JavaScript:
// Post/Redirect/Get with a flash, the settings page with the field's error
// when refused, and Remove back to initials.
func TestServer_AvatarForm(t *testing.T) {
	e, u, c := openWithUser(t, "form-pic@example.com", "Сара Чен", aistat.RoleEditor)

	ct, body := avatarPart(t, "me.png", "image/png", encodePNG(t, filled(80, 80, color.RGBA{G: 0xff, A: 0xff})))
	res := c.do(http.MethodPost, "/settings/avatar", ct, body)
	wantStatus(t, res, http.StatusSeeOther)
	if got := res.Header.Get("Location"); got != "/settings" {
		t.Fatalf("Location = %q", got)
	}
	path := readUserRow(t, e, u.ID).AvatarURL
	if !avatarPathPattern.MatchString(path) {
		t.Fatalf("avatar_url %q", path)
	}
	page := c.get("/settings")
	wantBody(t, page, `<p class="flash" role="status">Picture saved.</p>`,
		// The header's small circle takes the small picture.
		`<img src="`+path+`?size=64" alt="" width="32" height="32"`,
		`<img src="`+path+`" alt="" width="64" height="64"`,
		`value="`+path+`"`)
	wantNoBody(t, page, `data-avatar-remove hidden`)

	t.Run("Refused", func(t *testing.T) {
		before := readUserRow(t, e, u.ID)
		ct, body := avatarPart(t, "notes.png", "image/png", []byte("not a picture"))
		res := c.do(http.MethodPost, "/settings/avatar", ct, body)
		wantStatus(t, res, http.StatusUnprocessableEntity)
		wantBody(t, res, `<p class="field-error" id="avatar-error">Avatar must be a PNG, JPEG, GIF or WebP picture.</p>`,
			`id="avatar" name="avatar" type="file"`)
		if got := readUserRow(t, e, u.ID); got != before {
			t.Errorf("user row %+v, want unchanged %+v", got, before)
		}
		res = c.do(http.MethodPost, "/settings/avatar", ct, body, "Accept-Language", "ru")
		wantBody(t, res, "Аватар должен быть картинкой PNG, JPEG, GIF или WebP.")
	})

	t.Run("SavingTheProfileKeepsThePicture", func(t *testing.T) {
		wantStatus(t, c.postForm("/settings", url.Values{"name": {"Сара Чен"}, "avatar_url": {path}}), http.StatusSeeOther)
		if got := readUserRow(t, e, u.ID).AvatarURL; got != path {
			t.Errorf("avatar_url %q, want %q", got, path)
		}
	})

	t.Run("Remove", func(t *testing.T) {
		res := c.postForm("/settings/avatar/remove", nil)
		wantStatus(t, res, http.StatusSeeOther)
		if got := readUserRow(t, e, u.ID).AvatarURL; got != "" {
			t.Fatalf("avatar_url %q after Remove", got)
		}
		page := c.get("/settings")
		wantBody(t, page, "Picture removed: your initials are shown instead.", `data-user-initials aria-hidden="true">СЧ</span>`, `data-avatar-remove hidden`)
		wantNoBody(t, page, `<img src="/avatars/`)
	})

	t.Run("RemoveCrossOrigin", func(t *testing.T) {
		wantStatus(t, c.postForm("/settings/avatar", nil), http.StatusUnsupportedMediaType)
		res := c.do(http.MethodPost, "/settings/avatar/remove", "application/x-www-form-urlencoded", "", "Sec-Fetch-Site", "cross-site")
		wantStatus(t, res, http.StatusForbidden)
	})
}

// TestServer_AvatarShow serves stored pictures by their content's hash,
// cached for good and revalidated by their tag; anything else is 404.
func TestServer_AvatarShow(t *testing.T) {
	e, _, c := openWithUser(t, "show@example.com", "Show", aistat.RoleViewer)
	path := uploaded(t, c.upload("a.png", "image/png", encodePNG(t, filled(20, 20, color.White)))).AvatarURL
	hash := strings.TrimSuffix(strings.TrimPrefix(path, "/avatars/"), ".jpg")

	anon := newClient(t, e)
	res := anon.get(path)
	wantStatus(t, res, http.StatusOK)
	for name, want := range map[string]string{
		"Cache-Control": "public, max-age=31536000, immutable",
		"ETag":          `"` + hash + `"`,
		"Content-Type":  "image/jpeg",
	} {
		if got := res.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if res.Header.Get("Set-Cookie") != "" {
		t.Error("a picture set a cookie")
	}
	if small := anon.get(path + "?size=64"); small.Header.Get("ETag") != `"`+hash+`-64"` || len(small.body) >= len(res.body) {
		t.Errorf("small picture: ETag %q, %d bytes of the large one's %d", small.Header.Get("ETag"), len(small.body), len(res.body))
	}

	t.Run("NotModified", func(t *testing.T) {
		for _, inm := range []string{`"` + hash + `"`, `W/"` + hash + `"`, `"other", "` + hash + `"`} {
			res := anon.do(http.MethodGet, path, "", "", "If-None-Match", inm)
			wantStatus(t, res, http.StatusNotModified)
			if res.body != "" {
				t.Errorf("If-None-Match %s: a body with the 304", inm)
			}
		}
		wantStatus(t, anon.do(http.MethodGet, path, "", "", "If-None-Match", `"other"`), http.StatusOK)
		wantStatus(t, anon.do(http.MethodGet, path+"?size=64", "", "", "If-None-Match", `"`+hash+`"`), http.StatusOK)
	})

	t.Run("NotFound", func(t *testing.T) {
		for _, p := range []string{
			"/avatars/" + strings.Repeat("0", 64) + ".jpg", // unknown
			"/avatars/" + strings.ToUpper(hash) + ".jpg",
			"/avatars/" + hash + ".png",
			"/avatars/" + hash,
			"/avatars/" + hash[:63] + ".jpg",
			"/avatars/" + hash + "0.jpg",
			"/avatars/" + strings.Repeat("g", 64) + ".jpg",
			"/avatars/..%2Fschema.sql",
			"/avatars/" + hash + ".jpg?size=32",
			"/avatars/" + hash + ".jpg?size=",
		} {
			res := anon.get(p)
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", p, res.StatusCode)
			}
			if cc := res.Header.Get("Cache-Control"); cc == "public, max-age=31536000, immutable" {
				t.Errorf("GET %s: a 404 cached for good", p)
			}
		}
	})
}

// TestServer_AvatarLive: an upload reaches every open page of the user as
// the profile event, as any profile change does.
func TestServer_AvatarLive(t *testing.T) {
	e, u, c := openWithUser(t, "live-pic@example.com", "Live", aistat.RoleViewer)
	other := newClient(t, e)
	other.login("live-pic@example.com")
	stream := other.openStream()
	defer stream.close()

	path := uploaded(t, c.upload("a.png", "image/png", encodePNG(t, filled(20, 20, color.White)))).AvatarURL
	if got := decodeUser(t, stream.want("profile").data); got.ID != u.ID || got.AvatarURL != path {
		t.Errorf("profile event: user %d, avatarUrl %q; want %d, %q", got.ID, got.AvatarURL, u.ID, path)
	}
	res := c.do(http.MethodPost, "/settings/avatar/remove", "application/x-www-form-urlencoded", "", "Accept", "application/json")
	wantStatus(t, res, http.StatusOK)
	if got := decodeUser(t, stream.want("profile").data); got.AvatarURL != "" {
		t.Errorf("profile event after Remove: avatarUrl %q, want none", got.AvatarURL)
	}
}

// TestUsers_DeleteUnusedAvatars: a picture nobody shows any more goes once
// the grace has passed; one someone still shows, or just got, stays.
func TestUsers_DeleteUnusedAvatars(t *testing.T) {
	e := mustOpenEnv(t)
	a := mustCreateUser(t, e, "gc-a@example.com", "A", aistat.RoleViewer)
	mustCreateUser(t, e, "gc-b@example.com", "B", aistat.RoleViewer)
	ca, cb := newClient(t, e), newClient(t, e)
	ca.login("gc-a@example.com")
	cb.login("gc-b@example.com")

	shared := encodePNG(t, filled(20, 20, color.White))
	first := uploaded(t, ca.upload("a.png", "image/png", shared)).AvatarURL
	uploaded(t, cb.upload("b.png", "image/png", shared))
	second := uploaded(t, ca.upload("a2.png", "image/png", encodePNG(t, filled(20, 20, color.Black)))).AvatarURL
	third := uploaded(t, cb.upload("b2.png", "image/png", encodePNG(t, filled(20, 20, color.Gray{Y: 0x80})))).AvatarURL
	// first is nobody's now; all are past the grace but third.
	if _, err := e.db.Exec(`UPDATE avatars SET used_at = now() - interval '2 hours' WHERE '/avatars/' || hash || '.jpg' <> $1`, third); err != nil {
		t.Fatal(err)
	}
	if _, err := e.users.DeleteUnusedAvatars(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	if res := ca.get(first); res.StatusCode != http.StatusNotFound {
		t.Errorf("the picture nobody shows: %d, want 404", res.StatusCode)
	}
	for _, p := range []string{second, third} {
		wantStatus(t, ca.get(p), http.StatusOK)
	}
	// Given again after the grace, the picture is used again.
	if _, err := e.users.RemoveAvatar(t.Context(), a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Exec(`UPDATE avatars SET used_at = now() - interval '2 hours'`); err != nil {
		t.Fatal(err)
	}
	uploaded(t, ca.upload("a2.png", "image/png", encodePNG(t, filled(20, 20, color.Black))))
	if _, err := e.users.DeleteUnusedAvatars(t.Context(), 10); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{second, third} {
		wantStatus(t, ca.get(p), http.StatusOK)
	}
}
