/**
 * The broker's payload codec: FastStream's encoding by type and decoding by
 * content-type, through Schemas.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result, Schema, SchemaTransformation } from "effect"
import * as Codec from "../src/internal/broker/codec.ts"

const text = (data: Uint8Array) => new TextDecoder().decode(data)
const bytes = (value: string) => new TextEncoder().encode(value)

const encoded = (result: Result.Result<Codec.Encoded, string>) => {
  assert.isTrue(Result.isSuccess(result), "encodes")
  return (result as Result.Success<Codec.Encoded, string>).success
}

const Order = Schema.Struct({ id: Schema.String, quantity: Schema.Int })

describe("NatsBroker codec", () => {
  describe("encoding", () => {
    it("sends bytes as they are, without a content-type", () => {
      const data = new Uint8Array([0, 1, 255])
      const result = encoded(Codec.encodeValue(data))
      assert.strictEqual(result.data, data)
      assert.isUndefined(result.contentType)
    })

    it("sends strings as UTF-8 text/plain", () => {
      const result = encoded(Codec.encodeValue("héllo"))
      assert.strictEqual(text(result.data), "héllo")
      assert.strictEqual(result.contentType, "text/plain")
    })

    it("sends other values as JSON", () => {
      for (const value of [{ a: [1, "x"] }, 42, true, null, [1, 2]]) {
        const result = encoded(Codec.encodeValue(value))
        assert.strictEqual(text(result.data), JSON.stringify(value))
        assert.strictEqual(result.contentType, "application/json")
      }
    })

    it("sends undefined as an empty body without a content-type", () => {
      const result = encoded(Codec.encodeValue(undefined))
      assert.strictEqual(result.data.length, 0)
      assert.isUndefined(result.contentType)
    })

    it("refuses what JSON cannot represent, with the reason", () => {
      const bigint = Codec.encodeValue({ n: 1n })
      assert.isTrue(Result.isFailure(bigint))
      assert.include(Result.isFailure(bigint) ? bigint.failure : "", "JSON")
      const fn = Codec.encodeValue(() => 1)
      assert.deepStrictEqual(fn, Result.fail("a function cannot be encoded as JSON"))
    })

    it("encodes through a Schema, then by the encoded value's type", () => {
      const json = encoded(Codec.makeEncoder(Order)({ id: "o", quantity: 2 }))
      assert.strictEqual(text(json.data), `{"id":"o","quantity":2}`)
      assert.strictEqual(json.contentType, "application/json")
      // A Schema that encodes to a string goes out as text.
      const asText = encoded(Codec.makeEncoder(Schema.NumberFromString)(12.5))
      assert.strictEqual(text(asText.data), "12.5")
      assert.strictEqual(asText.contentType, "text/plain")
    })

    it("refuses a value its Schema rejects, with the Schema's reason", () => {
      const result = Codec.makeEncoder(Order)({ id: "o", quantity: 1.5 })
      assert.isTrue(Result.isFailure(result))
      assert.include(Result.isFailure(result) ? result.failure : "", "quantity")
    })

    it("caches one encoder per Schema", () => {
      assert.strictEqual(Codec.encoderFor(Order), Codec.encoderFor(Order))
      assert.strictEqual(Codec.encoderFor(undefined), Codec.encodeValue)
    })
  })

  describe("decoding", () => {
    it("decodes by content-type: JSON, text, bytes", () => {
      assert.deepStrictEqual(Codec.decodeValue(bytes(`{"a":1}`), "application/json"), { a: 1 })
      assert.deepStrictEqual(Codec.decodeValue(bytes(`{"a":1}`), "application/json; charset=utf-8"), { a: 1 })
      assert.deepStrictEqual(Codec.decodeValue(bytes(`[1]`), "application/vnd.api+json"), [1])
      assert.strictEqual(Codec.decodeValue(bytes(`{"a":1}`), "text/plain"), `{"a":1}`)
      const binary = bytes("raw")
      assert.strictEqual(Codec.decodeValue(binary, "application/octet-stream"), binary)
    })

    it("reports invalid JSON under a JSON content-type", () => {
      const result = Codec.decodeValue(bytes("{nope"), "application/json")
      assert.instanceOf(result, Codec.DecodeFailure)
      assert.include((result as Codec.DecodeFailure).reason, "invalid JSON")
    })

    it("without a content-type, reads JSON when it parses, else bytes; empty is undefined", () => {
      assert.deepStrictEqual(Codec.decodeValue(bytes(`{"a":1}`), undefined), { a: 1 })
      assert.strictEqual(Codec.decodeValue(bytes("42"), undefined), 42)
      const notJson = bytes("plain words")
      assert.strictEqual(Codec.decodeValue(notJson, undefined), notJson)
      assert.strictEqual(Codec.decodeValue(new Uint8Array(0), undefined), undefined)
      // FastStream sends an empty content-type for bytes.
      assert.strictEqual(Codec.decodeValue(notJson, ""), notJson)
    })

    it("decodes through a Schema", () => {
      const decode = Codec.makeDecoder(Order)
      assert.deepStrictEqual(decode(bytes(`{"id":"o","quantity":3}`), "application/json"), { id: "o", quantity: 3 })
      const transformed = Codec.makeDecoder(Schema.NumberFromString)
      assert.strictEqual(transformed(bytes("7"), "text/plain"), 7)
    })

    it("reports a payload its Schema rejects, with the Schema's reason", () => {
      const result = Codec.makeDecoder(Order)(bytes(`{"id":"o","quantity":"many"}`), "application/json")
      assert.instanceOf(result, Codec.DecodeFailure)
      assert.include((result as Codec.DecodeFailure).reason, "quantity")
    })

    it("without a content-type, tries the bytes when the JSON reading is rejected", () => {
      const decode = Codec.makeDecoder(Schema.Uint8Array)
      // "123" parses as JSON (a number), which Schema.Uint8Array rejects: the bytes fit.
      const result = decode(bytes("123"), undefined)
      assert.instanceOf(result, Uint8Array)
      assert.strictEqual(text(result as Uint8Array), "123")
    })

    it("without a content-type, reads a body that is not JSON as text for a string Schema", () => {
      const decode = Codec.makeDecoder(Schema.String)
      // What `nats pub prices.get ACME` sends.
      assert.strictEqual(decode(bytes("ACME"), undefined), "ACME")
      assert.strictEqual(decode(bytes("héllo wörld"), ""), "héllo wörld")
      assert.strictEqual(decode(new Uint8Array(0), undefined), "")
      // JSON is JSON: a quoted string is the string, a number is not one.
      assert.strictEqual(decode(bytes(`"ACME"`), undefined), "ACME")
      assert.instanceOf(decode(bytes("42"), undefined), Codec.DecodeFailure)
      // Bytes that are not UTF-8 are not text.
      assert.instanceOf(decode(new Uint8Array([0xff, 0xfe, 0x41]), undefined), Codec.DecodeFailure)
      // Under a content-type, its rule alone.
      assert.instanceOf(decode(bytes("ACME"), "application/octet-stream"), Codec.DecodeFailure)
      // A Schema of bytes still gets the bytes of an empty body.
      assert.deepStrictEqual(Codec.makeDecoder(Schema.Uint8Array)(new Uint8Array(0), undefined), new Uint8Array(0))
    })

    it("decodes with a Schema whose transformation fails, as a failure not a crash", () => {
      const Positive = Schema.Number.pipe(
        Schema.decodeTo(
          Schema.Number,
          SchemaTransformation.transform({
            decode: (n: number) => {
              if (n < 0) throw new Error("negative")
              return n
            },
            encode: (n: number) => n
          })
        )
      )
      const result = Codec.makeDecoder(Positive)(bytes("-1"), "application/json")
      assert.instanceOf(result, Codec.DecodeFailure)
    })
  })

  describe("round trips", () => {
    it("what the encoder writes, the decoder reads back", () => {
      const values: ReadonlyArray<unknown> = ["text", { nested: { list: [1, 2] } }, 3.5, false, null, undefined]
      for (const value of values) {
        const { contentType, data } = encoded(Codec.encodeValue(value))
        assert.deepStrictEqual(Codec.decodeValue(data, contentType), value)
      }
      const order = { id: "o-1", quantity: 4 }
      const { contentType, data } = encoded(Codec.makeEncoder(Order)(order))
      assert.deepStrictEqual(Codec.makeDecoder(Order)(data, contentType), order)
    })
  })
})
