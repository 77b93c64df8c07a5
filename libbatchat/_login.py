"""Accounts and names: NOVO, ENTRAR and APELIDO, look-alikes and takeover.

Each of them asks the account store in a ``Job`` (``finish`` brings the
answer back to ``_registered``, ``_logged_in`` or ``_nicked``); in a cluster
the name is also claimed across nodes before the session enters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ._accounts import hash_password
from ._accounts import verify_password as _verify
from ._codec import Codec
from ._core import CoreBase
from ._events import Command, Joined, Login, Nick, Register, Reply
from ._limits import SlidingWindow, address_key
from ._names import fold
from ._replies import (
    BAD_CREDENTIALS,
    LOGGED_IN,
    NAME_ONLINE,
    NAME_TAKEN,
    NICK_OK,
    REGISTERED,
    SERVER_ERROR,
    TOO_MANY_ATTEMPTS,
    resembles,
)
from ._session import NO_ROOMS, Failure, Job, Output, Session, guarded
from ._skeleton import skeleton

log = logging.getLogger("libbatchat.server")


class LoginCommands(CoreBase):
    """The commands that give a session its name."""

    def _start_job(
        self,
        session: Session,
        command: Command,
        work: Callable[[], object],
        out: Output,
    ) -> None:
        job = Job(session, guarded(work))
        session._job = job
        session._job_command = command
        out.jobs.append(job)

    def _register(
        self, session: Session, cmd: Register, now: float, out: Output
    ) -> Reply | None:
        refused = self._claim_free(session, cmd.user, NAME_TAKEN, "is taken")
        if refused is not None:
            return refused
        lim, store, user, password = self.limits, self.accounts, cmd.user, cmd.password

        def work() -> object:
            # Look first, so a look-alike costs no hash; create() checks again
            # atomically, against a racing server on the same store.
            found = store.similar(user)
            if found is not None:
                return found
            record = hash_password(
                password, n=lim.scrypt_n, r=lim.scrypt_r, p=lim.scrypt_p
            )
            if store.create(user, record):
                return True
            return store.similar(user) or user

        if self.cluster is None:
            self._start_job(session, cmd, work, out)
        else:
            self._cluster_register(session, cmd, work)
        return None

    def _registered(self, session: Session, cmd: Register, result: object) -> Reply:
        if result is True:
            log.info("account %s registered from %s", cmd.user, session.peer)
            return Reply(code=REGISTERED, text="account created")
        if isinstance(result, str):
            text = resembles(
                cmd.user, result, f"{cmd.user} is taken", f"the account {result}"
            )
            return Reply(code=NAME_TAKEN, text=text)
        return self._failed(session, cmd, result)

    def _login(
        self, session: Session, cmd: Login, now: float, out: Output
    ) -> Reply | None:
        if not self._attempt_start(session, now):
            log.warning("login throttled for session %d (%s)", session.id, session.peer)
            return Reply(code=TOO_MANY_ATTEMPTS, text="too many failed logins")
        store, user, password, dummy = (
            self.accounts,
            cmd.user,
            cmd.password,
            self._dummy,
        )

        def work() -> object:
            found = store.get(user)
            if found is None:
                # Same cost as a real check: timing must not tell whether the
                # account exists.
                _verify(password, dummy)
                return None
            return found[0] if _verify(password, found[1]) else None

        self._start_job(session, cmd, work, out)
        return None

    def _attempt_start(self, session: Session, now: float) -> bool:
        """Count an ENTRAR as a failed attempt from the moment it starts.

        Counting only finished checks let 200 parallel guesses all through
        while the first were still hashing (issue 7, row 4).
        """
        key = address_key(session.peer)
        window = session._failed_logins
        if not (
            (window is None or window.allowed(now))
            and self._ip_failures.allowed(key, now)
        ):
            return False
        if window is None:
            lim = self.limits
            window = SlidingWindow(lim.login_attempts, lim.login_window)
            session._failed_logins = window
        window.record(now)
        self._ip_failures.record(key, now)
        session._attempt = now
        return True

    def _attempt_done(self, session: Session, cmd: Login, result: object) -> None:
        # A failed check stays counted, even when the session is gone, so
        # hanging up after each guess does not dodge the per-address limit.
        # Anything else (success, a store failure) is given back.
        stamp, session._attempt = session._attempt, None
        assert stamp is not None
        if result is None:
            log.warning("failed login for %s from %s", cmd.user, session.peer)
            return
        window = session._failed_logins
        assert window is not None  # _attempt_start() made it
        window.forget(stamp)
        if not window:
            session._failed_logins = None
        self._ip_failures.forget(address_key(session.peer), stamp)

    def _logged_in(
        self, session: Session, cmd: Login, result: object, out: Output
    ) -> Reply | None:
        if result is None:
            return Reply(code=BAD_CREDENTIALS, text="invalid user or password")
        if not isinstance(result, str):
            return self._failed(session, cmd, result)
        holder = self._looks.get(skeleton(result))
        if holder is not None:
            # Classroom dialects know no takeover: their sessions keep 705.
            dialect = isinstance(session.connection, Codec) or isinstance(
                holder.connection, Codec
            )
            if dialect or not (holder._account and holder._key == fold(result)):
                text = resembles(
                    result,
                    holder._name,
                    f"{result} is already online",
                    f"{holder._name}, who is online",
                )
                return Reply(code=NAME_ONLINE, text=text)
            # The name is this node's already: no cluster claim is needed,
            # and to the other nodes the account never left.
            self._take_over(session, holder, out)
        elif self.cluster is not None:
            remote = self._elsewhere(result)
            if remote is not None:
                if (
                    fold(remote) == fold(result)
                    and not isinstance(session.connection, Codec)
                    and self.cluster.linked
                ):
                    # Takeover across nodes (docs/cluster.md): the holder's
                    # node closes it, then this one claims the name.
                    self.cluster.take_over(session, cmd, result)
                    return None
                text = resembles(
                    result,
                    remote,
                    f"{result} is already online",
                    f"{remote}, who is online",
                )
                return Reply(code=NAME_ONLINE, text=text)
            self._cluster_enter(session, cmd, result, "account")
            return None
        else:
            self._enter(session, result, "account", out)
        return Reply(code=LOGGED_IN, text=result)

    def _nick(
        self, session: Session, cmd: Nick, now: float, out: Output
    ) -> Reply | None:
        refused = self._claim_free(session, cmd.nick, NAME_ONLINE, "is in use")
        if refused is not None:
            return refused
        store, nick = self.accounts, cmd.nick
        self._start_job(session, cmd, lambda: store.similar(nick), out)
        return None

    def _nicked(
        self, session: Session, cmd: Nick, result: object, out: Output
    ) -> Reply | None:
        if isinstance(result, str):
            text = resembles(
                cmd.nick, result, f"an account owns {cmd.nick}", f"the account {result}"
            )
            return Reply(code=NAME_TAKEN, text=text)
        if result is not None:
            return self._failed(session, cmd, result)
        other = self._in_use(cmd.nick)
        if other is not None:
            # An account that looks alike logged in while the store was asked.
            text = resembles(cmd.nick, other, f"{cmd.nick} is in use", other)
            return Reply(code=NAME_ONLINE, text=text)
        if self.cluster is not None:
            self._cluster_enter(session, cmd, cmd.nick, "guest")
            return None
        self._enter(session, cmd.nick, "guest", out)
        return Reply(code=NICK_OK, text=cmd.nick)

    # -- names that look alike (spec 3.5) and takeover (spec 5.2) -------------

    def _in_use(self, name: str) -> str | None:
        """The name online or being claimed that ``name`` looks like."""
        key = skeleton(name)
        holder = self._looks.get(key)
        return holder._name if holder is not None else self._claims.get(key)

    def _claim_free(
        self, session: Session, name: str, code: int, busy: str
    ) -> Reply | None:
        """Claim ``name`` for ``session``; or, if it is or looks like a name
        online or claimed (here or on another node), the refusal ``code``
        saying ``name`` ``busy``."""
        other = self._in_use(name)
        if other is None:
            other = self._elsewhere(name)
        if other is not None:
            text = resembles(name, other, f"{name} {busy}", other)
            return Reply(code=code, text=text)
        key = skeleton(name)
        self._claims[key] = name
        session._claim = key
        return None

    def _take_over(self, session: Session, old: Session, out: Output) -> None:
        """Move ``old``'s name and rooms to ``session`` and close ``old``.

        Nobody else is told: to them the account never left (no OFFLINE,
        ONLINE, LEFT or JOINED); the new session is sent JOINED for itself in
        each room it now holds, after its PASS-214.
        """
        session.name, session._name = old.name, old._name
        session._key, session._skeleton = old._key, old._skeleton
        session._account = True
        session._rooms, old._rooms = old._rooms, NO_ROOMS
        moved = []
        for key in session._rooms:
            room = self._rooms[key]
            del room.members[old]
            room.members[session] = None
            moved.append(Joined(room=room.display, user=old._name))
        session._moved = moved
        self._online[session._key] = session
        self._looks[session._skeleton] = session
        old.name = None  # so ending it tells no one
        log.info(
            "%s taken over by session %d from %s",
            session._name,
            session.id,
            session.peer,
        )
        self._close(old, "taken-over", f"logged in again from {session.peer}", out)

    def _failed(self, session: Session, cmd: Command, result: object) -> Reply:
        error = result.error if isinstance(result, Failure) else result
        log.error("session %d: %s failed: %r", session.id, cmd.VERB, error)
        return Reply(code=SERVER_ERROR, text="the server failed; try again")

    # -- cluster (only with ServerCore(cluster=...)) -----------------------------

    def _cluster_enter(
        self, session: Session, cmd: Login | Nick, name: str, kind: str
    ) -> None:
        """Claim ``name`` across the cluster; enter, or ERRO-705, when answered."""
        cluster = self.cluster
        assert cluster is not None
        ok = LOGGED_IN if isinstance(cmd, Login) else NICK_OK
        busy = f"{name} is already online" if ok == LOGGED_IN else f"{name} is in use"

        def then(result: object, out: Output) -> Reply:
            if result is not True:
                if result is False:
                    return Reply(code=NAME_ONLINE, text=busy)
                return self._failed(session, cmd, result)
            holder = self._looks.get(skeleton(name))
            if holder is not None:
                # Another session of ours won it (or a look-alike) meanwhile.
                # The very name stays ours either way; a different one is
                # given back.
                if holder._key != fold(name):
                    cluster.release(fold(name))
                text = resembles(name, holder._name, busy, holder._name)
                return Reply(code=NAME_ONLINE, text=text)
            self._enter(session, name, kind, out)
            return Reply(code=ok, text=name)

        session._job_command = cmd
        cluster.claim(session, fold(name), then)

    def _cluster_register(
        self, session: Session, cmd: Register, work: Callable[[], object]
    ) -> None:
        """Hold the name across the cluster while the account is created, so no
        guest on another node takes it meanwhile (released in finish())."""
        cluster = self.cluster
        assert cluster is not None
        key = session._claim
        assert key is not None

        def then(result: object, out: Output) -> Reply | None:
            if result is True:
                self._start_job(session, cmd, work, out)
                return None
            del self._claims[key]
            session._claim = None
            if result is False:
                return Reply(code=NAME_TAKEN, text=f"{cmd.user} is taken")
            return self._failed(session, cmd, result)

        session._job_command = cmd
        # Across nodes a name is claimed by its folded key; look-alikes are
        # caught by each node's own view (docs/cluster.md).
        cluster.claim(session, fold(cmd.user), then)

    def _elsewhere(self, name: str) -> str | None:
        """The user online on another node that ``name`` is or looks like."""
        return None if self.cluster is None else self.cluster.looks_like(name)
