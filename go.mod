module aistat

go 1.26.8

require (
	github.com/alexedwards/scs/v2 v2.9.0
	github.com/julienschmidt/httprouter v1.3.0
	github.com/lib/pq v1.12.3
	golang.org/x/crypto v0.59.0
)
