/**
 * KV and object watchers across a lost server: the nats-server is killed
 * while the watchers are behind (their handlers held on an early change; for
 * KV, later ones delivered or waiting) and started again on the same port
 * and store; each watcher goes on from where it was, handing over every
 * change, in revision order, none twice and none missed.
 */
import { assert, describe, it } from "@effect/vitest"
import { NatsBroker, NatsClient } from "@nats-effect/core"
import { KeyValue } from "@nats-effect/kv"
import { ObjectStore } from "@nats-effect/object-store"
import { NatsServer } from "@nats-effect/testing"
import { Deferred, Effect, Layer, Logger, Queue, Stream } from "effect"

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** Takes `count` items from the queue, waiting for each. */
const takeN = <A>(queue: Queue.Queue<A>, count: number) =>
  Effect.forEach(Array.from({ length: count }), () => Queue.take(queue))

for (const server of NatsServer.matrix()) describe(`Watchers across a server restart (nats.js) (nats-server ${server.version})`, () => {
  it.live("KV and object watchers resume where they were: every change once, in revision order", () =>
    Effect.gen(function*() {
      const logs = yield* Queue.unbounded<string>()
      const capture = Logger.make(({ message }) => {
        Queue.offerUnsafe(logs, (Array.isArray(message) ? message : [message]).map(String).join(" "))
      })
      const reconnected = Stream.fromQueue(logs).pipe(
        Stream.takeUntil((line) => line.includes("NATS reconnected")),
        Stream.runDrain
      )
      const Nats = NatsServer.layerClient({ bin: server.bin }, { reconnectTimeWait: "50 millis" }).pipe(
        Layer.provide(Logger.layer([capture]))
      )
      const changes = yield* Queue.unbounded<readonly [string, number]>()
      const objects = yield* Queue.unbounded<readonly [string, number]>()
      // The handlers hold on the third change until the server is back: the changes after it
      // are with the client or still on the server when it goes.
      const restarted = yield* Deferred.make<void>()
      const objectHeld = yield* Deferred.make<void>()
      const holdOnThird = (name: string) => name.endsWith("3") ? Deferred.await(restarted) : Effect.void
      const Watchers = Layer.mergeAll(
        KeyValue.watcher("restart_watch", "k.{n}", { include: "updatesOnly" }, (_value, message) =>
          Effect.andThen(holdOnThird(message.key), Queue.offer(changes, [message.key, message.revision] as const))),
        ObjectStore.watcher("restart_objects", {}, (info) =>
          Effect.andThen(
            info.name === "o3" ? Effect.andThen(Deferred.succeed(objectHeld, undefined), holdOnThird(info.name)) : Effect.void,
            Queue.offer(objects, [info.name, info.revision] as const)
          ))
      )
      yield* Effect.gen(function*() {
        const server = yield* NatsServer.NatsServer
        const kv = yield* KeyValue.make({ bucket: "restart_watch" })
        const store = yield* ObjectStore.make({ bucket: "restart_objects" })
        const written: Array<readonly [string, number]> = []
        const stored: Array<readonly [string, number]> = []
        const write = (from: number, to: number) =>
          Effect.forEach(
            range(from, to),
            (n) => Effect.map(kv.put(`k.${n}`, `${n}`), (revision) => written.push([`k.${n}`, revision]))
          )
        const storeObject = (n: number) =>
          Effect.map(store.putBytes(`o${n}`, `object ${n}`), (info) => stored.push([`o${n}`, info.revision]))
        // Each object's meta is a rollup, on which nats-server 2.9 moves a consumer past what it has
        // not delivered yet (a server bug, see ObjectStore.watch): the next object is written once the
        // watcher has the last one.
        const storeObjects = (from: number, to: number) =>
          Effect.forEach(range(from, to), (n) => Effect.andThen(storeObject(n), Queue.take(objects)))

        // 100 changes: the first 64 go to the client (what it reads ahead), the rest stay on the server.
        yield* write(1, 100)
        assert.deepStrictEqual(yield* takeN(changes, 2), written.slice(0, 2))
        const objectsSeen = [...yield* storeObjects(1, 2)]
        yield* storeObject(3)
        yield* Deferred.await(objectHeld)

        yield* server.kill
        yield* server.start
        yield* reconnected
        yield* Effect.flatMap(NatsClient.NatsClient, (nats) => nats.flush)
        yield* Deferred.succeed(restarted, undefined)
        objectsSeen.push(yield* Queue.take(objects))
        yield* write(101, 120)
        // At once, not after the missed heartbeats (30 s or more) that would tell nats.js its consumer is gone.
        const afterChanges = yield* takeN(changes, 118).pipe(Effect.timeout("15 seconds"))
        assert.deepStrictEqual(afterChanges, written.slice(2))
        objectsSeen.push(...yield* storeObjects(4, 12).pipe(Effect.timeout("15 seconds")))
        assert.deepStrictEqual(objectsSeen, stored)
        // Nothing more: the next change handed over is the next one written.
        yield* write(121, 121)
        assert.deepStrictEqual(yield* Queue.take(changes), written[120])
        assert.deepStrictEqual(yield* storeObjects(13, 13), [stored[12]])
      }).pipe(Effect.provide(Watchers.pipe(Layer.provideMerge(NatsBroker.layer), Layer.provideMerge(Nats))))
    }), { timeout: 90_000 })
})
