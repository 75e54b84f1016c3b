// SPDX-License-Identifier: AGPL-3.0-or-later
pragma solidity 0.8.37;

/// @title VerazOrderToken: one non-transferable ERC-721 token per published catalogue order.
/// @notice Each token stands for one order (an OCDS contracting process, named by its ocid) and
/// records on chain the SHA-256 of the order's release it was minted from (the "data hash",
/// RFC 8785 canonical JSON, as in the portal's evidence log). See docs/tokens.md.
///
/// Design:
///
/// * tokenId = uint256(sha256(bytes(ocid))): anyone derives it from the ocid, and the contract
///   checks it, so a token cannot stand for another order than the one its id names.
/// * The ocid is kept on chain (tokenId => ocid) so that tokenURI can name the metadata URL,
///   baseURI + percent-encoded ocid + ".json", and so that the chain alone says which order a
///   token is.
/// * Non-transferable (ERC-5192 "soulbound"): every token is locked from its mint; transfers
///   and approvals revert. A procurement order does not change hands.
/// * Only the owner (the portal's minting account) mints, in batches; an ocid minted before
///   reverts the whole batch, so no order is ever minted twice.
/// * The caller is read through _msgSender() (virtual), so a relay-aware base (LACChain's
///   meta-transactions) can override it without touching the rest.
/// * No library: every line is here, compiled with the pinned solcjs (compile.mjs).
contract VerazOrderToken {
    /// ERC-721
    event Transfer(address indexed from, address indexed to, uint256 indexed tokenId);
    event Approval(address indexed owner, address indexed approved, uint256 indexed tokenId);
    event ApprovalForAll(address indexed owner, address indexed operator, bool approved);
    /// ERC-5192
    event Locked(uint256 tokenId);
    event Unlocked(uint256 tokenId);
    /// ERC-4906: emitted when the owner moves the metadata to another base URL.
    event BatchMetadataUpdate(uint256 _fromTokenId, uint256 _toTokenId);

    string public constant name = "Veraz order";
    string public constant symbol = "VERAZ";

    address private _owner;
    string private _baseURI;
    uint256 public totalSupply;

    mapping(uint256 => address) private _holders;
    mapping(address => uint256) private _balances;
    mapping(uint256 => bytes32) private _dataHashes;
    mapping(uint256 => string) private _ocids;

    error NotOwner();
    error Soulbound();
    error NonexistentToken(uint256 tokenId);
    error AlreadyMinted(uint256 tokenId);
    error LengthMismatch();
    error InvalidRecipient();
    error EmptyOcid();

    constructor(string memory baseURI_) {
        _owner = _msgSender();
        _baseURI = baseURI_;
    }

    /// The caller. A relay-aware contract overrides this to read the original sender.
    function _msgSender() internal view virtual returns (address) {
        return msg.sender;
    }

    modifier onlyOwner() {
        if (_msgSender() != _owner) revert NotOwner();
        _;
    }

    function owner() external view returns (address) {
        return _owner;
    }

    function baseURI() external view returns (string memory) {
        return _baseURI;
    }

    function setBaseURI(string calldata baseURI_) external onlyOwner {
        _baseURI = baseURI_;
        emit BatchMetadataUpdate(0, type(uint256).max);
    }

    /// The token id of an ocid: uint256(sha256(ocid as UTF-8 bytes)).
    function tokenIdOf(string calldata ocid) public pure returns (uint256) {
        return uint256(sha256(bytes(ocid)));
    }

    /// Mint one locked token per ocid to `to`, recording each order's data hash.
    function mintBatch(address to, string[] calldata ocids, bytes32[] calldata dataHashes)
        external
        onlyOwner
    {
        if (to == address(0)) revert InvalidRecipient();
        uint256 n = ocids.length;
        if (n != dataHashes.length) revert LengthMismatch();
        for (uint256 i = 0; i < n; i++) {
            string calldata ocid = ocids[i];
            if (bytes(ocid).length == 0) revert EmptyOcid();
            uint256 tokenId = tokenIdOf(ocid);
            if (_holders[tokenId] != address(0)) revert AlreadyMinted(tokenId);
            _holders[tokenId] = to;
            _dataHashes[tokenId] = dataHashes[i];
            _ocids[tokenId] = ocid;
            emit Transfer(address(0), to, tokenId);
            emit Locked(tokenId);
        }
        _balances[to] += n;
        totalSupply += n;
    }

    function _exists(uint256 tokenId) internal view returns (address holder) {
        holder = _holders[tokenId];
        if (holder == address(0)) revert NonexistentToken(tokenId);
    }

    /// Whether the ocid's token exists (never reverts).
    function minted(uint256 tokenId) external view returns (bool) {
        return _holders[tokenId] != address(0);
    }

    function dataHash(uint256 tokenId) external view returns (bytes32) {
        _exists(tokenId);
        return _dataHashes[tokenId];
    }

    function ocidOf(uint256 tokenId) external view returns (string memory) {
        _exists(tokenId);
        return _ocids[tokenId];
    }

    // ERC-165
    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == 0x01ffc9a7 // ERC-165
            || interfaceId == 0x80ac58cd // ERC-721
            || interfaceId == 0x5b5e139f // ERC-721 metadata
            || interfaceId == 0xb45a3c0e; // ERC-5192
    }

    // ERC-5192
    function locked(uint256 tokenId) external view returns (bool) {
        _exists(tokenId);
        return true;
    }

    // ERC-721 metadata
    function tokenURI(uint256 tokenId) external view returns (string memory) {
        _exists(tokenId);
        return string.concat(_baseURI, string(_percentEncode(bytes(_ocids[tokenId]))), ".json");
    }

    /// RFC 3986 percent-encoding of one path segment: every byte but A-Z a-z 0-9 - . _ ~ becomes
    /// %XX (upper-case hex), as Python's urllib.parse.quote(value, safe="") writes it.
    function _percentEncode(bytes memory raw) internal pure returns (bytes memory out) {
        bytes16 hexDigits = "0123456789ABCDEF";
        uint256 extra = 0;
        for (uint256 i = 0; i < raw.length; i++) {
            if (!_unreserved(raw[i])) extra += 2;
        }
        out = new bytes(raw.length + extra);
        uint256 j = 0;
        for (uint256 i = 0; i < raw.length; i++) {
            bytes1 c = raw[i];
            if (_unreserved(c)) {
                out[j++] = c;
            } else {
                out[j++] = "%";
                out[j++] = hexDigits[uint8(c) >> 4];
                out[j++] = hexDigits[uint8(c) & 0x0f];
            }
        }
    }

    function _unreserved(bytes1 c) private pure returns (bool) {
        return (c >= "A" && c <= "Z") || (c >= "a" && c <= "z") || (c >= "0" && c <= "9") || c == "-"
            || c == "." || c == "_" || c == "~";
    }

    // ERC-721
    function balanceOf(address holder) external view returns (uint256) {
        if (holder == address(0)) revert InvalidRecipient();
        return _balances[holder];
    }

    function ownerOf(uint256 tokenId) external view returns (address) {
        return _exists(tokenId);
    }

    function getApproved(uint256 tokenId) external view returns (address) {
        _exists(tokenId);
        return address(0);
    }

    function isApprovedForAll(address, address) external pure returns (bool) {
        return false;
    }

    function approve(address, uint256) external pure {
        revert Soulbound();
    }

    function setApprovalForAll(address, bool) external pure {
        revert Soulbound();
    }

    function transferFrom(address, address, uint256) external pure {
        revert Soulbound();
    }

    function safeTransferFrom(address, address, uint256) external pure {
        revert Soulbound();
    }

    function safeTransferFrom(address, address, uint256, bytes calldata) external pure {
        revert Soulbound();
    }
}
