"""Board symmetries: the images of a position are the same position, relabelled."""

from __future__ import annotations

import itertools

from agents.solver import AlphaBetaSolver
from games import load_game, observe, random_observations
from games.symmetry import TTT_SYMMETRIES, action_symmetries, history_images, observation_images


def test_the_square_has_eight_symmetries_forming_a_group():
    assert len(set(TTT_SYMMETRIES)) == 8 and TTT_SYMMETRIES[0] == tuple(range(9))
    for p, q in itertools.product(TTT_SYMMETRIES, repeat=2):
        assert tuple(p[q[a]] for a in range(9)) in TTT_SYMMETRIES  # closed under composition
    # pinned: the quarter turn sends the corner a1 (0) to 2 and the centre (4) to itself
    assert TTT_SYMMETRIES[1][0] == 2 and all(perm[4] == 4 for perm in TTT_SYMMETRIES)


def test_symmetries_by_game():
    assert len(action_symmetries(load_game("tic_tac_toe"))) == 8
    mirror = action_symmetries(load_game("connect_four"))
    assert mirror == (tuple(range(7)), tuple(range(6, -1, -1)))
    assert action_symmetries(load_game("kuhn_poker")) == ((0, 1),)
    assert history_images(load_game("connect_four"), [0, 3, 5]) == [[0, 3, 5], [6, 3, 1]]


def test_images_have_the_same_value_and_permuted_moves():
    """The solver's value of every move is the value of its image move in every image."""
    handle = load_game("tic_tac_toe")
    solver = AlphaBetaSolver(handle)
    for obs in random_observations("tic_tac_toe", 12, seed=3):
        values = solver.action_values(obs.state)
        images = observation_images(obs)
        assert len(images) == 8 and images[0][1] is obs
        for perm, image in images:
            assert image.player == obs.player
            assert sorted(image.actions) == sorted(perm[a] for a in obs.actions)
            image_values = solver.action_values(image.state)
            assert {a: image_values[perm[a]] for a in obs.actions} == values


def test_a_game_without_symmetry_has_only_itself():
    obs = random_observations("kuhn_poker", 1, seed=0)[0]
    assert observation_images(obs) == [((0, 1), obs)]
    state = load_game("connect_four").game.new_initial_state()
    state.apply_action(0)
    (_, same), (_, mirror) = observation_images(observe(load_game("connect_four"), state))
    assert same.prompt != mirror.prompt  # a stone in column a, and one in column g
