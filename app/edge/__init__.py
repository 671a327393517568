"""The request edge: what runs around every route, as a few named steps.

`route.AppRoute` composes them, in this order, for every request:

1. admission (`admission`): the whole body is read, within its size cap and
   deadline, and only then does the request take a turn, at the PostgreSQL
   connection pool or SQLite's one writer;
2. transaction (`transaction`): one session, committed before the response;
3. idempotency (`idempotency`): a creating POST with an Idempotency-Key gets the
   answer stored under it, or runs and stores its answer in that transaction.

What the steps hand to the route's dependencies travels under one name each in
`request_state`. A new domain adds nothing here: its router names
`route_class=AppRoute`.
"""
