"""batchat-gui in a real window (Xvfb) against a real in-process server.

The tests drive the real widgets (entries, buttons, key events) and a
headless peer on the client layer talks back. They wait by pumping the Tk
loop until a condition holds (``pump``), never by sleeping.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tkinter as tk
from collections.abc import Iterator
from pathlib import Path

import pytest

from frontends.gui.app import App, build_parser, identity_from
from frontends.gui.conversation import EVERYONE
from libbatchat.adapters import aio
from libbatchat.client import (
    Account,
    Address,
    Backoff,
    Guest,
    Joined,
    Left,
    Message,
    Offline,
    Status,
)
from tests.gui_harness import (
    HOST,
    WAIT,
    Network,
    display,
    ended,
    net,
    program,
    pump,
    root,
    screens,
    server,
    shoot,
)

FAST_BACKOFF = {"backoff": Backoff(initial=0.05, maximum=0.2)}


def make_app(root: tk.Tk, server: aio.Server, **kwargs: object) -> App:
    return App(
        root,
        Address(HOST, server.port),
        client_options=dict(FAST_BACKOFF),
        **kwargs,  # type: ignore[arg-type]
    )


def logged_in(root: tk.Tk, app: App) -> None:
    pump(root, lambda: app.session is not None, "the chat window")


def lines(app: App, target: str) -> list[str]:
    assert app.chat is not None
    found = app.chat.find(target)
    return found.lines() if found is not None else []


def shown(app: App, target: str, text: str) -> bool:
    return any(text in line for line in lines(app, target))


def enter(root: tk.Tk, app: App, text: str) -> None:
    """Type ``text`` in the message entry and press Enter."""
    assert app.chat is not None
    entry = app.chat.entry
    entry.delete(0, "end")
    entry.insert(0, text)
    entry.focus_force()
    root.update()
    entry.event_generate("<Return>")
    root.update()


def close(root: tk.Tk, app: App) -> None:
    app.quit()
    pump(root, lambda: app.closed, "the window to close")


def fill_connect(app: App, mode: str, name: str, password: str = "") -> None:
    screen = app.connect_screen
    assert screen is not None
    screen.mode_buttons[mode].invoke()
    screen.name.set(name)
    screen.password.set(password)


@pytest.fixture
def guest_app(root: tk.Tk, server: aio.Server) -> Iterator[App]:
    app = make_app(root, server, identity=Guest("ana"))
    logged_in(root, app)
    yield app
    if not app.closed:
        close(root, app)


def test_guest_chats_in_a_room_and_a_dm(
    root: tk.Tk, server: aio.Server, net: Network, screens: Path
) -> None:
    app = make_app(root, server)
    screen = app.connect_screen
    assert screen is not None
    fill_connect(app, "guest", "ana")
    shoot(root, "connect", screens)
    screen.connect_button.invoke()
    logged_in(root, app)
    chat = app.chat
    assert chat is not None
    assert root.title() == f"BatChat - ana on {HOST}:{server.port}"

    # Create a room from the window; it opens as a tab and is listed.
    chat.new_room.set("#geral")
    chat.create_button.invoke()
    pump(root, lambda: chat.find("#geral") is not None, "the #geral tab")
    pump(root, lambda: ("#geral", 1) in chat.room_rows(), "#geral in the room list")
    assert chat.current().target == "#geral"

    bruno = net.peer(server, "bruno", rooms=("#geral",))
    pump(root, lambda: shown(app, "#geral", "bruno joined #geral"), "the join notice")
    pump(root, lambda: "bruno" in chat.members.get(0, "end"), "bruno as a member")
    pump(root, lambda: "bruno" in chat.people.get(0, "end"), "bruno online")
    pump(root, lambda: ("#geral", 2) in chat.room_rows(), "the count to follow")

    enter(root, app, "oi bruno, tudo bem?")
    pump(
        root,
        lambda: bruno.seen(
            lambda u: (
                isinstance(u, Message)
                and u.address == "#geral"
                and u.text == "oi bruno, tudo bem?"
            )
        ),
        "bruno to get the room message",
    )
    pump(root, lambda: shown(app, "#geral", "<ana> oi bruno, tudo bem?"), "my line")
    bruno.say("#geral", "tudo ótimo, e você?")
    pump(root, lambda: shown(app, "#geral", "<bruno> tudo ótimo, e você?"), "his line")

    # A DM opens its own tab, marked unread while another tab is shown.
    bruno.say("ana", "um segredo")
    pump(root, lambda: shown(app, "bruno", "<bruno> um segredo"), "the DM tab")
    direct = chat.find("bruno")
    assert direct is not None
    assert direct.title == "bruno (1)"
    assert chat.tabs.tab(direct, "text") == "bruno (1)"
    chat.tabs.select(direct)
    pump(root, lambda: direct.unread == 0, "the unread mark to clear")
    assert chat.tabs.tab(direct, "text") == "bruno"

    # Tab completes the nick; Enter sends it to bruno alone.
    entry = chat.entry
    entry.delete(0, "end")
    entry.insert(0, "br")
    entry.focus_force()
    root.update()
    entry.event_generate("<Tab>")
    root.update()
    assert entry.get() == "bruno: "
    assert root.focus_get() is entry
    entry.insert("end", "segredo guardado")
    entry.event_generate("<Return>")
    pump(
        root,
        lambda: bruno.seen(
            lambda u: (
                isinstance(u, Message)
                and u.address == "@"
                and u.text == "bruno: segredo guardado"
            )
        ),
        "bruno to get the DM",
    )
    chat.tabs.select(chat.find("#geral"))
    bruno.say("#geral", "até logo")
    pump(root, lambda: shown(app, "#geral", "até logo"), "the last line")
    shoot(root, "chat", screens)

    # Leaving: bruno parts (a notice), then Ctrl-W leaves #geral here.
    net.run(bruno.client.part("#geral"))
    pump(root, lambda: shown(app, "#geral", "bruno left #geral"), "the leave notice")
    entry.focus_force()
    root.update()
    entry.event_generate("<Control-w>")
    pump(root, lambda: chat.find("#geral") is None, "the #geral tab to close")
    assert shown(app, EVERYONE, "you left #geral")

    close(root, app)
    assert app.client is not None
    pump(root, lambda: bruno.seen(lambda u: u == Offline(user="ana")), "ana offline")
    assert net.thread.call(lambda: app.client.status) is Status.STOPPED  # type: ignore[union-attr]
    bruno.quit()


def test_register_then_log_in_with_flags(
    root: tk.Tk, server: aio.Server, net: Network, screens: Path
) -> None:
    app = make_app(root, server)
    screen = app.connect_screen
    assert screen is not None
    assert str(screen.password_entry.cget("show")) == "\u2022"
    fill_connect(app, "register", "carla", "correct horse")
    screen.connect_button.invoke()
    logged_in(root, app)
    close(root, app)

    # --user with BATCHAT_PASSWORD skips the screen and logs in.
    args = build_parser().parse_args([f"{HOST}:{server.port}", "--user", "carla"])
    identity, mode = identity_from(args, {"BATCHAT_PASSWORD": "correct horse"})
    assert identity == Account("carla", "correct horse")
    assert mode == "login"
    second = tk.Tk()
    try:
        again = make_app(second, server, identity=identity)
        assert again.connect_screen is None
        logged_in(second, again)
        assert again.session is not None
        assert again.session.me == "carla"
        close(second, again)
    finally:
        if not again.closed:
            second.destroy()

    # Without the password the screen asks for it, and a wrong one is refused.
    args = build_parser().parse_args(["--user", "carla"])
    assert identity_from(args, {}) == (None, "login")
    third = tk.Tk()
    try:
        app3 = make_app(third, server, user="carla")
        screen3 = app3.connect_screen
        assert screen3 is not None
        assert screen3.name.get() == "carla"
        screen3.password.set("wrong")
        screen3.connect_button.invoke()
        pump(
            third,
            lambda: "wrong user name or password" in screen3.message.get().lower(),
            "the refusal",
        )
        assert str(screen3.connect_button.cget("state")) == "normal"
        shoot(third, "login-refused", screens)
        screen3.password.set("correct horse")
        screen3.password_entry.event_generate("<Return>")
        logged_in(third, app3)
        close(third, app3)
    finally:
        if not app3.closed:
            third.destroy()


def test_bad_input_is_refused_in_the_window(
    root: tk.Tk, server: aio.Server, net: Network
) -> None:
    app = make_app(root, server)
    screen = app.connect_screen
    assert screen is not None
    screen.port.set("http")
    screen.connect_button.invoke()
    assert screen.message.get() == "The port must be a number from 1 to 65535."
    screen.port.set(str(server.port))
    fill_connect(app, "guest", "not a name!")
    screen.connect_button.invoke()
    assert "invalid nickname" in screen.message.get()
    fill_connect(app, "login", "dora", "")
    screen.connect_button.invoke()
    assert screen.message.get() == "Type the password."
    net.peer(server, "dora")
    fill_connect(app, "guest", "dora")
    screen.connect_button.invoke()
    pump(root, lambda: screen.message.get() == "dora is already online", "name taken")

    fill_connect(app, "guest", "eva")
    screen.connect_button.invoke()
    logged_in(root, app)
    enter(root, app, "/bogus")
    pump(root, lambda: shown(app, EVERYONE, "/bogus: not a command"), "unknown command")
    enter(root, app, "/join no spaces allowed")
    pump(root, lambda: len(lines(app, EVERYONE)) >= 3, "the bad room name")
    assert "room" in lines(app, EVERYONE)[-1].lower()
    enter(root, app, "/msg eva talking to myself")
    pump(root, lambda: shown(app, EVERYONE, "/msg eva: that is you"), "not to me")
    enter(root, app, "/msg #nowhere hello")
    pump(root, lambda: shown(app, EVERYONE, "you are not in #nowhere"), "not there")
    enter(root, app, "/msg ghost are you there?")
    pump(
        root,
        lambda: shown(app, "ghost", "not delivered: ghost is not online"),
        "the refusal to a user not online",
    )
    close(root, app)


def test_survives_a_server_restart(
    root: tk.Tk, server: aio.Server, net: Network, screens: Path
) -> None:
    app = make_app(root, server, identity=Guest("fabio"), rooms=("#sala",))
    logged_in(root, app)
    chat = app.chat
    assert chat is not None
    pump(root, lambda: chat.find("#sala") is not None, "the #sala tab")
    port = server.port
    net.run(server.close())
    pump(
        root,
        lambda: shown(app, "#sala", "disconnected: the server is shutting down"),
        "the disconnect notice",
    )
    pump(
        root, lambda: chat.state_text.get().startswith("reconnecting"), "the countdown"
    )
    assert chat.people.get(0, "end") == ()
    shoot(root, "reconnecting", screens)
    restarted = net.server(port)
    try:
        pump(root, lambda: shown(app, "#sala", "rejoined #sala"), "the rejoin")
        assert chat.state_text.get() == "logged in"
        gil = net.peer(restarted, "gil", rooms=("#sala",))
        gil.say("#sala", "voltou?")
        pump(
            root,
            lambda: shown(app, "#sala", "<gil> voltou?"),
            "a line after the restart",
        )
        enter(root, app, "sim!")
        pump(
            root,
            lambda: gil.seen(lambda u: isinstance(u, Message) and u.text == "sim!"),
            "gil to hear back",
        )
        assert gil.seen(lambda u: isinstance(u, Joined | Left)) is False
        close(root, app)
    finally:
        net.run(restarted.close())


def test_two_windows_chat_in_a_room_and_directly(
    root: tk.Tk, server: aio.Server
) -> None:
    other = tk.Tk()
    ana = make_app(root, server, identity=Guest("ana"), rooms=("#geral",))
    # Bruno starts only once ana is in the room (she joins while logging in):
    # started together, his join could come first, and she would be told he
    # was there instead of that he joined.
    logged_in(root, ana)
    bruno = make_app(other, server, identity=Guest("bruno"), rooms=("#geral",))
    try:
        logged_in(other, bruno)
        pump(root, lambda: shown(ana, "#geral", "bruno joined #geral"), "the notice")
        enter(root, ana, "oi, bruno")
        pump(other, lambda: shown(bruno, "#geral", "<ana> oi, bruno"), "the room line")
        assert bruno.session is not None
        assert bruno.session.direct("ana") is not None
        enter(other, bruno, "só pra você")
        pump(root, lambda: shown(ana, "bruno", "<bruno> só pra você"), "the DM")
        assert not shown(ana, "#geral", "só pra você")
        close(other, bruno)
        pump(root, lambda: shown(ana, "#geral", "bruno left #geral"), "the leave")
        pump(root, lambda: shown(ana, "bruno", "bruno went offline"), "offline")
        close(root, ana)
    finally:
        if not bruno.closed:
            other.destroy()


def test_the_batchat_gui_program(
    display: str, server: aio.Server, net: Network
) -> None:
    xdotool = shutil.which("xdotool")
    if xdotool is None:
        pytest.skip("xdotool is not installed (apt-get install xdotool)")
    peer = net.peer(server, "pat", rooms=("#geral",))
    command = [
        "frontends.gui",
        f"{HOST}:{server.port}",
        "--nick",
        "zed",
        "--join",
        "#geral",
    ]
    with program(command, display) as proc:
        peer.wait(lambda u: u == Joined(room="#geral", user="zed"), "zed to join")
        found = subprocess.run(
            [xdotool, "search", "--sync", "--name", "^BatChat - zed on "],
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=True,
        )
        window = found.stdout.split()[0]
        subprocess.run(
            [
                xdotool,
                "windowfocus",
                "--sync",
                window,
                "type",
                "--delay",
                "2",
                "typed for real",
            ],
            timeout=WAIT,
            check=True,
        )
        subprocess.run([xdotool, "key", "Return"], timeout=WAIT, check=True)
        peer.wait(
            lambda u: (
                isinstance(u, Message)
                and u.text == "typed for real"
                and u.sender == "zed"
                and u.address == "#geral"
            ),
            "the line typed in the window",
        )
        ended(proc, signal.SIGINT)  # Ctrl-C: the window says goodbye
    peer.wait(lambda u: u == Offline(user="zed"), "zed to go offline")
    peer.quit()
